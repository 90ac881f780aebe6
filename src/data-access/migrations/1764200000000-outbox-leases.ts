import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Outboxes that isolate what cannot be delivered and hold leases that can be checked:
 * - an event that cannot be published after a bounded number of attempts is parked
 *   (`parked_at`); events of its request after it wait behind it, and nothing else does;
 * - an email claim carries a token: a mark (sent, retry later, parked) only lands while the
 *   relay that claimed the row still holds it.
 */
export class OutboxLeases1764200000000 implements MigrationInterface {
  name = 'OutboxLeases1764200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE approval_events ADD COLUMN IF NOT EXISTS parked_at timestamptz`);
    await db.query(`COMMENT ON COLUMN approval_events.publish_attempts IS 'failed publish attempts that were this event''s own (it was sent alone, or refused for itself)'`);
    await db.query(`CREATE INDEX IF NOT EXISTS approval_events_parked_idx ON approval_events (parked_at) WHERE parked_at IS NOT NULL`);
    await db.query(`ALTER TABLE email_outbox ADD COLUMN IF NOT EXISTS lease_token uuid`);
    await db.query(`CREATE INDEX IF NOT EXISTS email_outbox_parked_idx ON email_outbox (id) WHERE status = 'PARKED'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP INDEX IF EXISTS email_outbox_parked_idx');
    await db.query('ALTER TABLE email_outbox DROP COLUMN IF EXISTS lease_token');
    await db.query('DROP INDEX IF EXISTS approval_events_parked_idx');
    await db.query('ALTER TABLE approval_events DROP COLUMN IF EXISTS parked_at');
  }
}
