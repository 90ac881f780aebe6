import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The API's Idempotency-Key: each caller's key, what its first call was (a fingerprint), and the
 * answer it got once it had one. A new table, which the previous version never reads.
 */
export class IdempotencyKeys1765000000000 implements MigrationInterface {
  name = 'IdempotencyKeys1765000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE idempotency_keys (
        caller_id text NOT NULL,
        key text NOT NULL,
        fingerprint text NOT NULL,
        claim_id uuid NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        answer_status integer,
        answer_type text,
        answer_body text,
        PRIMARY KEY (caller_id, key)
      )`);
    await db.query(`CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE idempotency_keys');
  }
}
