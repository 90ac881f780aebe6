import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Approval records, their decisions, the event history (which doubles as the event outbox) and
 * the email outbox. Natural keys are unique so redelivered messages cannot duplicate effects.
 */
export class ApprovalSchema1764000000000 implements MigrationInterface {
  name = 'ApprovalSchema1764000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE approval_requests (
        request_id        text PRIMARY KEY,
        operation         text NOT NULL,
        status            text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
        approval_policy   text NOT NULL DEFAULT 'ANY_ONE',
        requester         jsonb NOT NULL,
        cards             jsonb NOT NULL,
        approvers         jsonb NOT NULL,
        description       text,
        attributes        jsonb NOT NULL DEFAULT '{}',
        requested_at      timestamptz NOT NULL,
        opened_at         timestamptz NOT NULL,
        updated_at        timestamptz NOT NULL,
        closed_at         timestamptz,
        outcome_decision_id text,
        last_postponed_by jsonb,
        last_postponed_at timestamptz,
        version           integer NOT NULL DEFAULT 1
      )`);
    await db.query(`CREATE INDEX approval_requests_status_idx ON approval_requests (status, operation, opened_at)`);
    await db.query(`CREATE INDEX approval_requests_approvers_idx ON approval_requests USING gin (approvers jsonb_path_ops)`);

    await db.query(`
      CREATE TABLE approval_decisions (
        decision_id   text PRIMARY KEY, request_id text NOT NULL,
        decision      text NOT NULL CHECK (decision IN ('APPROVED', 'REJECTED', 'POSTPONED')),
        approver      jsonb NOT NULL,
        reason        text,
        decided_at    timestamptz NOT NULL,
        received_at   timestamptz NOT NULL,
        outcome       text NOT NULL CHECK (outcome IN ('APPLIED', 'REFUSED', 'AWAITING_REQUEST')),
        refusal_code  text,
        resolved_at   timestamptz
      )`);
    await db.query(`CREATE INDEX approval_decisions_request_idx ON approval_decisions (request_id, received_at)`);
    await db.query(`CREATE INDEX approval_decisions_awaiting_idx ON approval_decisions (received_at) WHERE outcome = 'AWAITING_REQUEST'`);

    await db.query(`
      CREATE TABLE approval_events (
        seq              bigserial PRIMARY KEY,
        event_id         text NOT NULL UNIQUE,
        request_id       text NOT NULL,
        type             text NOT NULL,
        status_before    text,
        status_after     text,
        actor            jsonb,
        reason           text,
        payload          jsonb NOT NULL,
        occurred_at      timestamptz NOT NULL,
        published_at     timestamptz,
        publish_attempts integer NOT NULL DEFAULT 0,
        locked_until     timestamptz,
        last_error       text
      )`);
    await db.query(`CREATE INDEX approval_events_request_idx ON approval_events (request_id, seq)`);
    await db.query(`CREATE INDEX approval_events_unpublished_idx ON approval_events (seq) WHERE published_at IS NULL`);

    await db.query(`
      CREATE TABLE email_outbox (
        id               bigserial PRIMARY KEY,
        event_id         text NOT NULL REFERENCES approval_events (event_id),
        recipient_email  text NOT NULL,
        recipient        jsonb NOT NULL,
        template         text NOT NULL,
        message_id       text NOT NULL UNIQUE,
        status           text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'PARKED')),
        attempts         integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz NOT NULL DEFAULT now(),
        locked_until     timestamptz,
        last_error       text,
        created_at       timestamptz NOT NULL DEFAULT now(),
        sent_at          timestamptz,
        UNIQUE (event_id, recipient_email)
      )`);
    await db.query(`CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at) WHERE status = 'PENDING'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE email_outbox');
    await db.query('DROP TABLE approval_events');
    await db.query('DROP TABLE approval_decisions');
    await db.query('DROP TABLE approval_requests');
  }
}
