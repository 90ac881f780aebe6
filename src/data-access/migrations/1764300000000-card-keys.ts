import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * At most one pending approval per card: each pending approval holds its cards' keys ("id:<cardId>",
 * or "serial:<serialNumber>" for a card without an id) in a table whose primary key is the card
 * key, so two pending approvals can never hold one card, across partitions and workers. A
 * superseded approval is a closed state of its own.
 */
export class CardKeys1764300000000 implements MigrationInterface {
  name = 'CardKeys1764300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE TABLE IF NOT EXISTS approval_card_keys (card_key text PRIMARY KEY, request_id text NOT NULL)`);
    await db.query(`CREATE INDEX IF NOT EXISTS approval_card_keys_request_idx ON approval_card_keys (request_id)`);
    // Pending approvals opened before this migration hold their keys too (the oldest wins a tie).
    await db.query(`
      INSERT INTO approval_card_keys (card_key, request_id)
      SELECT k.card_key, r.request_id
      FROM approval_requests r,
           LATERAL (SELECT CASE WHEN coalesce(c->>'cardId', '') <> '' THEN 'id:' || (c->>'cardId')
                                WHEN coalesce(c->>'serialNumber', '') <> '' THEN 'serial:' || (c->>'serialNumber') END AS card_key
                    FROM jsonb_array_elements(r.cards) AS c) AS k
      WHERE r.status = 'PENDING' AND k.card_key IS NOT NULL
      ORDER BY r.opened_at
      ON CONFLICT (card_key) DO NOTHING`);
    await db.query(`ALTER TABLE approval_requests DROP CONSTRAINT IF EXISTS approval_requests_status_check`);
    await db.query(`ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_status_check CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'SUPERSEDED'))`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE approval_requests DROP CONSTRAINT IF EXISTS approval_requests_status_check`);
    await db.query(`ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_status_check CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED'))`);
    await db.query('DROP TABLE IF EXISTS approval_card_keys');
  }
}
