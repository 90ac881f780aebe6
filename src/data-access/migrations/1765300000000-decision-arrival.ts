import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The order in which decisions arrived (expand). Two decisions waiting for their request could
 * tie on decided_at and on received_at (a batch stores them with one time), and were then applied
 * in any order once the request came: a rejection before the approval that came first closed the
 * request under it. The column is added without a default (no rewrite) and then given one, so
 * every version's inserts, the previous one's too, number their rows; older rows stay NULL and
 * sort last among ties, as before.
 */
export class DecisionArrival1765300000000 implements MigrationInterface {
  name = 'DecisionArrival1765300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE SEQUENCE approval_decisions_arrival_seq`);
    await db.query(`ALTER TABLE approval_decisions ADD COLUMN arrival bigint`);
    await db.query(`ALTER TABLE approval_decisions ALTER COLUMN arrival SET DEFAULT nextval('approval_decisions_arrival_seq')`);
    await db.query(`ALTER SEQUENCE approval_decisions_arrival_seq OWNED BY approval_decisions.arrival`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE approval_decisions DROP COLUMN arrival`);
  }
}
