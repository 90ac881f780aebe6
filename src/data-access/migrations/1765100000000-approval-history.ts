import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The request's history apart from the event outbox (expand): approval_history keeps what the
 * page, the API and an audit read, as long as the record; approval_events stays the outbox, from
 * which published rows are removed after OUTBOX_RETENTION. The database writes the history as
 * events are stored, for every version: the previous one, which knows nothing of the history,
 * goes on inserting into approval_events during a rolling update, and its events are kept too.
 * Rows stored before this migration are copied by the next one, in batches.
 *
 * Also: the lease that lets one worker at a time run retention.
 */
export class ApprovalHistory1765100000000 implements MigrationInterface {
  name = 'ApprovalHistory1765100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE approval_history (
        seq           bigint PRIMARY KEY,
        event_id      text NOT NULL,
        request_id    text NOT NULL,
        type          text NOT NULL,
        status_before text,
        status_after  text,
        actor         jsonb,
        reason        text,
        message       text,
        decision      jsonb,
        refusal_code  text,
        occurred_at   timestamptz NOT NULL
      )`);
    await db.query(`CREATE INDEX approval_history_request_idx ON approval_history (request_id, seq)`);
    // The history of a request that never came is its refused decisions: retention finds them by time.
    await db.query(`CREATE INDEX approval_history_unmatched_idx ON approval_history (occurred_at) WHERE refusal_code = 'UNKNOWN_REQUEST'`);
    await db.query(`
      CREATE FUNCTION approval_history_of_events() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO approval_history (${HISTORY_COLUMNS})
        SELECT ${HISTORY_FROM_EVENT} FROM stored ORDER BY seq
        ON CONFLICT (seq) DO NOTHING;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER approval_events_keep_history AFTER INSERT ON approval_events
      REFERENCING NEW TABLE AS stored FOR EACH STATEMENT EXECUTE FUNCTION approval_history_of_events()`);
    await db.query(`CREATE TABLE maintenance_leases (name text PRIMARY KEY, holder text, held_until timestamptz, next_run_at timestamptz NOT NULL DEFAULT now())`);
    await db.query(`INSERT INTO maintenance_leases (name) VALUES ('retention')`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE maintenance_leases');
    await db.query('DROP TRIGGER approval_events_keep_history ON approval_events');
    await db.query('DROP FUNCTION approval_history_of_events()');
    await db.query('DROP TABLE approval_history');
  }
}

/** The history's columns, and what each is in an approval_events row: one definition for the trigger and the copy. */
export const HISTORY_COLUMNS = 'seq, event_id, request_id, type, status_before, status_after, actor, reason, message, decision, refusal_code, occurred_at';
export const HISTORY_FROM_EVENT = `seq, event_id, request_id, type, status_before, status_after, actor, reason, payload->>'message',
  nullif(payload->'decision', 'null'::jsonb), payload->>'refusalCode', occurred_at`;
