// The approvals' transaction primitives for the use cases: per-request locks, one read of the
// state a batch folds over, and one write of everything that happened. Events and emails go to
// their outbox tables in the same statement, so nothing is sent for an uncommitted change.
import type { DataSource, EntityManager } from 'typeorm';
import type { ApprovalDecision } from '../domain/card-operation';
import type { BatchOutcome, BatchState } from '../domain/decide-batch';
import type { ApprovalRepository, ApprovalTransaction } from '../domain/ports';
import { RECORD_CHANGED_COLUMNS, RECORD_COLUMN_NAMES, RECORD_COLUMN_TYPES, recordFromRow, recordToRow, type RecordRow } from './approval-records';
import { EmailOutbox } from './email-outbox';
import { EventOutbox } from './event-outbox';

const iso = (value: number): string => new Date(value).toISOString();

const DECISION_COLUMNS = `decision_id text, request_id text, decision text, approver jsonb, reason text,
  decided_at timestamptz, outcome text, refusal_code text, resolved_at timestamptz`;

interface DecisionRow {
  decision_id: string;
  request_id: string;
  decision: ApprovalDecision['decision'];
  approver: ApprovalDecision['approver'];
  reason: string | null;
  decided_at: string | Date;
  received_at: string | Date;
}

const decisionFromRow = (row: DecisionRow): ApprovalDecision => ({
  decisionId: row.decision_id,
  requestId: row.request_id,
  decision: row.decision,
  approver: row.approver,
  reason: row.reason,
  decidedAt: new Date(row.decided_at).getTime(),
});

class PgApprovalTransaction implements ApprovalTransaction {
  constructor(
    private readonly db: EntityManager,
    private readonly leaseMs: number,
  ) {}

  /** Locks are taken in one global order (by key), so two transactions never deadlock. */
  async lockRequests(requestIds: string[]): Promise<void> {
    await this.db.query(
      `SELECT pg_advisory_xact_lock(k) FROM (
         SELECT DISTINCT hashtextextended(id, 0) AS k FROM unnest($1::text[]) AS id ORDER BY k
       ) AS ordered`,
      [requestIds],
    );
  }

  /** One round trip, whatever the batch size. */
  async load(requestIds: string[], decisionIds: string[]): Promise<{ state: BatchState; withUnpublishedEvents: Set<string> }> {
    const [row]: Array<{ records: RecordRow[]; known: string[]; awaiting: DecisionRow[]; unpublished: string[] }> = await this.db.query(
      `SELECT
         (SELECT coalesce(json_agg(r), '[]') FROM approval_requests r WHERE r.request_id = ANY($1)) AS records,
         (SELECT coalesce(json_agg(d.decision_id), '[]') FROM approval_decisions d WHERE d.decision_id = ANY($2)) AS known,
         (SELECT coalesce(json_agg(d ORDER BY d.decided_at, d.received_at), '[]') FROM approval_decisions d
           WHERE d.request_id = ANY($1) AND d.outcome = 'AWAITING_REQUEST') AS awaiting,
         (SELECT coalesce(json_agg(DISTINCT e.request_id), '[]') FROM approval_events e
           WHERE e.request_id = ANY($1) AND e.published_at IS NULL) AS unpublished`,
      [requestIds, decisionIds],
    );
    const awaiting = new Map<string, ApprovalDecision[]>();
    for (const decision of row!.awaiting.map(decisionFromRow)) {
      awaiting.set(decision.requestId, [...(awaiting.get(decision.requestId) ?? []), decision]);
    }
    const records = new Map(row!.records.map((r) => [r.request_id as string, recordFromRow(r)]));
    return { state: { records, knownDecisionIds: new Set(row!.known), awaiting }, withUnpublishedEvents: new Set(row!.unpublished) };
  }

  async requestsAwaitedSince(cutoff: number, limit: number): Promise<string[]> {
    const rows: Array<{ request_id: string }> = await this.db.query(
      `SELECT DISTINCT request_id FROM approval_decisions WHERE outcome = 'AWAITING_REQUEST' AND received_at < $1 LIMIT $2`,
      [iso(cutoff), limit],
    );
    return rows.map((r) => r.request_id);
  }

  async decisionsAwaitingMissingRequests(requestIds: string[], cutoff: number): Promise<Array<{ decision: ApprovalDecision; receivedAt: number }>> {
    const rows: DecisionRow[] = await this.db.query(
      `SELECT d.* FROM approval_decisions d
       WHERE d.request_id = ANY($1) AND d.outcome = 'AWAITING_REQUEST' AND d.received_at < $2
         AND NOT EXISTS (SELECT 1 FROM approval_requests r WHERE r.request_id = d.request_id)`,
      [requestIds, iso(cutoff)],
    );
    return rows.map((row) => ({ decision: decisionFromRow(row), receivedAt: new Date(row.received_at).getTime() }));
  }

  /**
   * Every change in one statement. A decision that was waiting for its request is already stored:
   * its row is resolved in place (received_at keeps when it first arrived).
   */
  async save(outcome: BatchOutcome, claimedEventIds: string[], now: number): Promise<void> {
    const decisions = outcome.decisions.map(({ decision, result, refusalCode }) => ({
      decision_id: decision.decisionId,
      request_id: decision.requestId,
      decision: decision.decision,
      approver: decision.approver,
      reason: decision.reason,
      decided_at: iso(decision.decidedAt),
      outcome: result,
      refusal_code: refusalCode,
      resolved_at: result === 'AWAITING_REQUEST' ? null : iso(now),
    }));
    await this.db.query(
      `WITH new_records AS (
         INSERT INTO approval_requests (${RECORD_COLUMN_NAMES})
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(${RECORD_COLUMN_TYPES})
         ON CONFLICT (request_id) DO NOTHING),
       changed_records AS (
         UPDATE approval_requests AS a SET ${RECORD_CHANGED_COLUMNS('r')}
         FROM jsonb_to_recordset($2::jsonb) AS r(${RECORD_COLUMN_TYPES})
         WHERE a.request_id = r.request_id),
       decisions AS (
         INSERT INTO approval_decisions (decision_id, request_id, decision, approver, reason, decided_at, received_at, outcome, refusal_code, resolved_at)
         SELECT d.decision_id, d.request_id, d.decision, d.approver, d.reason, d.decided_at, $6, d.outcome, d.refusal_code, d.resolved_at
         FROM jsonb_to_recordset($3::jsonb) AS d(${DECISION_COLUMNS})
         ON CONFLICT (decision_id) DO UPDATE SET outcome = excluded.outcome, refusal_code = excluded.refusal_code, resolved_at = excluded.resolved_at
         WHERE approval_decisions.outcome = 'AWAITING_REQUEST' AND approval_decisions.request_id = excluded.request_id),
       ${EventOutbox.insertCte('$4', '$7')},
       ${EmailOutbox.insertCte('$5')}
       SELECT 1`,
      [
        JSON.stringify(outcome.opened.map(recordToRow)),
        JSON.stringify(outcome.changed.map(recordToRow)),
        JSON.stringify(decisions),
        EventOutbox.eventRows(outcome.transitions, new Set(claimedEventIds)),
        EmailOutbox.emailRows(outcome.emails),
        iso(now),
        this.leaseMs,
      ],
    );
  }
}

export class ApprovalStore implements ApprovalRepository {
  constructor(
    private readonly dataSource: DataSource,
    /** The event outbox's lease, for the events a transaction claims for its own process. */
    private readonly events: Pick<EventOutbox, 'leaseMs'>,
  ) {}

  inTransaction<T>(work: (tx: ApprovalTransaction) => Promise<T>): Promise<T> {
    return this.dataSource.transaction((db) => work(new PgApprovalTransaction(db, this.events.leaseMs)));
  }
}
