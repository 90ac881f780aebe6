import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A timer that keeps failing on its own (the database refuses what it would write) is parked with
 * the reason, so it cannot hold back the timers claimed beside it; an operator puts it back.
 */
export class TimerParking1764500000000 implements MigrationInterface {
  name = 'TimerParking1764500000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE approval_timers ADD COLUMN attempts integer NOT NULL DEFAULT 0, ADD COLUMN parked_at timestamptz, ADD COLUMN last_error text`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE approval_timers DROP COLUMN attempts, DROP COLUMN parked_at, DROP COLUMN last_error`);
  }
}
