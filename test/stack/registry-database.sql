-- The schema registry keeps its schemas in a database of its own on the compose stack's Postgres.
CREATE DATABASE card_approvals_schema_registry;
