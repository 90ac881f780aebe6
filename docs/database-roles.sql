-- Two roles for the card-approval worker's database: the migrator owns the schema and runs the
-- migrations (node dist/entry-points/cli/migrate.js); the runtime role the workers use (with
-- MIGRATE=false) reads and writes rows and can change nothing else. Run this once, as a
-- superuser or the database's administrator, connected to the worker's database, before the
-- first migration:
--
--   psql -d card_approvals -v migrator=card_approvals_migrator -v runtime=card_approvals_worker \
--        -v database=card_approvals -f docs/database-roles.sql
--
-- The roles themselves (with their passwords) are created beforehand, for example:
--   CREATE ROLE card_approvals_migrator LOGIN PASSWORD '…';
--   CREATE ROLE card_approvals_worker LOGIN PASSWORD '…';
--   CREATE DATABASE card_approvals OWNER card_approvals_migrator;
-- The migrator, as the database's owner, may create the pg_trgm and pgcrypto extensions the
-- migrations need (trusted extensions since PostgreSQL 13).

-- Nobody else creates objects in the schema (the default from PostgreSQL 15 on).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- The migrator keeps it where public belongs to another role (PostgreSQL 14 and older).
GRANT CREATE ON SCHEMA public TO :"migrator";
GRANT CONNECT ON DATABASE :"database" TO :"runtime";
GRANT USAGE ON SCHEMA public TO :"runtime";

-- Every table and sequence the migrator creates, now and in every later migration, is open to
-- the runtime role for rows only: no DDL, no TRUNCATE, no ownership.
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrator" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"runtime";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrator" IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"runtime";

-- Tables the migrator already created (a database migrated before this was run).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"runtime";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"runtime";
