import type { MigrationInterface, QueryRunner } from 'typeorm';

/** One-click decision links from emails are single-use: a link's id is kept once it decided. */
export class EmailLinks1764700000000 implements MigrationInterface {
  name = 'EmailLinks1764700000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE TABLE email_link_uses (link_id text PRIMARY KEY, request_id text NOT NULL, decision_id text NOT NULL, used_at timestamptz NOT NULL DEFAULT now())`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE email_link_uses');
  }
}
