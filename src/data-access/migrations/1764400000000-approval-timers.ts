import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Approvals that always end: each pending approval's timers (reminder, escalation, expiry) in one
 * row, claimed with a lease like the outboxes; the request's own due date; the end states EXPIRED
 * and CANCELLED; and withdrawals, stored as decisions of kind WITHDRAWN with the role they came in.
 */
export class ApprovalTimers1764400000000 implements MigrationInterface {
  name = 'ApprovalTimers1764400000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE approval_timers (
        request_id   text PRIMARY KEY,
        remind_at    timestamptz,
        reminders    integer NOT NULL DEFAULT 0,
        escalate_at  timestamptz,
        expire_at    timestamptz,
        next_at      timestamptz NOT NULL,
        lease_until  timestamptz,
        lease_token  uuid
      )`);
    await db.query(`CREATE INDEX approval_timers_next_idx ON approval_timers (next_at)`);
    await db.query(`ALTER TABLE approval_requests ADD COLUMN due_at timestamptz`);
    await db.query(`ALTER TABLE approval_requests ADD COLUMN escalated_to jsonb NOT NULL DEFAULT '[]'`);
    await db.query(`ALTER TABLE approval_requests DROP CONSTRAINT IF EXISTS approval_requests_status_check`);
    await db.query(`ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_status_check CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'CANCELLED', 'SUPERSEDED'))`);
    await db.query(`ALTER TABLE approval_decisions DROP CONSTRAINT IF EXISTS approval_decisions_decision_check`);
    await db.query(`ALTER TABLE approval_decisions ADD CONSTRAINT approval_decisions_decision_check CHECK (decision IN ('APPROVED', 'REJECTED', 'POSTPONED', 'WITHDRAWN'))`);
    await db.query(`ALTER TABLE approval_decisions ADD COLUMN acting_as text NOT NULL DEFAULT 'APPROVER'`);
    // Approvals pending before this migration get no timers: the policy they were opened under
    // promised none. An operator can withdraw them.
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE approval_decisions DROP COLUMN acting_as`);
    await db.query(`ALTER TABLE approval_decisions DROP CONSTRAINT IF EXISTS approval_decisions_decision_check`);
    await db.query(`ALTER TABLE approval_decisions ADD CONSTRAINT approval_decisions_decision_check CHECK (decision IN ('APPROVED', 'REJECTED', 'POSTPONED'))`);
    await db.query(`ALTER TABLE approval_requests DROP CONSTRAINT IF EXISTS approval_requests_status_check`);
    await db.query(`ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_status_check CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'SUPERSEDED'))`);
    await db.query(`ALTER TABLE approval_requests DROP COLUMN escalated_to`);
    await db.query(`ALTER TABLE approval_requests DROP COLUMN due_at`);
    await db.query('DROP TABLE approval_timers');
  }
}
