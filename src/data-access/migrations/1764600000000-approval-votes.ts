import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The stages of a record from before stages, in SQL (the domain's stagesOfRecordBeforeStages):
 * approvals from before had one stage, and the first final decision of those asked (less the
 * escalated) won.
 */
export const STAGES_BEFORE_STAGES = `jsonb_build_array(jsonb_build_object(
  'name', 'approval', 'rule', '{"mode":"ANY","quorum":null}'::jsonb,
  'approvers', (SELECT coalesce(jsonb_agg(a), '[]') FROM jsonb_array_elements(approvers) a
                WHERE NOT escalated_to @> jsonb_build_array(jsonb_build_object('id', a->'id')))))`;

/**
 * Approvals that need more than one vote: each request keeps its policy's stages (resolved to
 * people), the active stage and the votes cast; a multi-card request keeps how each card ended.
 * Decisions may carry per-card outcomes or a reassignment. Delegations are kept whole: a revoked
 * one stays, with who revoked it, so the history says who could decide for whom and when.
 */
export class ApprovalVotes1764600000000 implements MigrationInterface {
  name = 'ApprovalVotes1764600000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE approval_requests
      ADD COLUMN requested_approvers jsonb, ADD COLUMN approval_rule jsonb,
      ADD COLUMN stages jsonb NOT NULL DEFAULT '[]', ADD COLUMN stage integer NOT NULL DEFAULT 0,
      ADD COLUMN votes jsonb NOT NULL DEFAULT '[]', ADD COLUMN card_results jsonb NOT NULL DEFAULT '[]'`);
    await db.query(`UPDATE approval_requests SET stages = ${STAGES_BEFORE_STAGES}`);
    await db.query(`ALTER TABLE approval_requests DROP CONSTRAINT IF EXISTS approval_requests_status_check`);
    await db.query(`ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_status_check CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'CANCELLED', 'SUPERSEDED', 'PARTIALLY_APPROVED'))`);
    await db.query(`ALTER TABLE approval_decisions DROP CONSTRAINT IF EXISTS approval_decisions_decision_check`);
    await db.query(`ALTER TABLE approval_decisions ADD CONSTRAINT approval_decisions_decision_check CHECK (decision IN ('APPROVED', 'REJECTED', 'POSTPONED', 'WITHDRAWN', 'REASSIGNED'))`);
    await db.query(`ALTER TABLE approval_decisions ADD COLUMN card_outcomes jsonb NOT NULL DEFAULT '[]', ADD COLUMN reassign jsonb`);
    await db.query(`
      CREATE TABLE approval_delegations (
        delegation_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        approver      jsonb NOT NULL,
        delegate      jsonb NOT NULL,
        starts_at     timestamptz NOT NULL,
        ends_at       timestamptz NOT NULL CHECK (ends_at > starts_at),
        created_by    jsonb NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        revoked_by    jsonb,
        revoked_at    timestamptz
      )`);
    await db.query(`CREATE INDEX approval_delegations_delegate_id_idx ON approval_delegations (lower(delegate->>'id')) WHERE revoked_at IS NULL`);
    await db.query(`CREATE INDEX approval_delegations_delegate_email_idx ON approval_delegations (lower(delegate->>'email')) WHERE revoked_at IS NULL`);
    await db.query(`CREATE INDEX approval_delegations_approver_idx ON approval_delegations (lower(approver->>'id'))`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE approval_delegations');
    await db.query(`ALTER TABLE approval_decisions DROP COLUMN card_outcomes, DROP COLUMN reassign`);
    await db.query(`ALTER TABLE approval_decisions DROP CONSTRAINT IF EXISTS approval_decisions_decision_check`);
    await db.query(`ALTER TABLE approval_decisions ADD CONSTRAINT approval_decisions_decision_check CHECK (decision IN ('APPROVED', 'REJECTED', 'POSTPONED', 'WITHDRAWN'))`);
    await db.query(`ALTER TABLE approval_requests DROP CONSTRAINT IF EXISTS approval_requests_status_check`);
    await db.query(`ALTER TABLE approval_requests ADD CONSTRAINT approval_requests_status_check CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'CANCELLED', 'SUPERSEDED'))`);
    await db.query(`ALTER TABLE approval_requests DROP COLUMN requested_approvers, DROP COLUMN approval_rule, DROP COLUMN stages, DROP COLUMN stage, DROP COLUMN votes, DROP COLUMN card_results`);
  }
}
