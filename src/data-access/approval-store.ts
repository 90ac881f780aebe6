// Persists a batch of messages in one transaction: lock the requests involved, load their state,
// let the domain fold the batch, write every change with multi-row statements. Events and emails
// go to their outbox tables in the same transaction, so nothing is sent for an uncommitted change.
import type { DataSource, EntityManager } from 'typeorm';
import type { ApprovalEvent, ApprovalRecord, EmailToSend, Transition } from '../domain/approval';
import type { ApprovalDecision } from '../domain/card-operation';
import { refuseUnknownRequest } from '../domain/apply-decision';
import { processBatch, type BatchChanges, type InboundMessage } from '../domain/process-batch';

const ms = (value: Date | string | null): number | null => (value === null ? null : new Date(value).getTime());
const iso = (value: number | null): string | null => (value === null ? null : new Date(value).toISOString());

interface RecordRow {
  request_id: string;
  operation: ApprovalRecord['operation'];
  status: ApprovalRecord['status'];
  requester: ApprovalRecord['requester'];
  cards: ApprovalRecord['cards'];
  approvers: ApprovalRecord['approvers'];
  description: string | null;
  attributes: Record<string, string>;
  requested_at: Date;
  opened_at: Date;
  updated_at: Date;
  closed_at: Date | null;
  outcome_decision_id: string | null;
  last_postponed_by: ApprovalRecord['lastPostponedBy'];
  last_postponed_at: Date | null;
  version: number;
}

export function recordFromRow(row: RecordRow): ApprovalRecord {
  return {
    requestId: row.request_id,
    operation: row.operation,
    status: row.status,
    requester: row.requester,
    cards: row.cards,
    approvers: row.approvers,
    description: row.description,
    attributes: row.attributes,
    requestedAt: ms(row.requested_at)!,
    openedAt: ms(row.opened_at)!,
    updatedAt: ms(row.updated_at)!,
    closedAt: ms(row.closed_at),
    outcomeDecisionId: row.outcome_decision_id,
    lastPostponedBy: row.last_postponed_by,
    lastPostponedAt: ms(row.last_postponed_at),
    version: row.version,
  };
}

const recordJson = (r: ApprovalRecord): Record<string, unknown> => ({
  request_id: r.requestId,
  operation: r.operation,
  status: r.status,
  requester: r.requester,
  cards: r.cards,
  approvers: r.approvers,
  description: r.description,
  attributes: r.attributes,
  requested_at: iso(r.requestedAt),
  opened_at: iso(r.openedAt),
  updated_at: iso(r.updatedAt),
  closed_at: iso(r.closedAt),
  outcome_decision_id: r.outcomeDecisionId,
  last_postponed_by: r.lastPostponedBy,
  last_postponed_at: iso(r.lastPostponedAt),
  version: r.version,
});

const RECORD_COLUMNS = `request_id text, operation text, status text, requester jsonb, cards jsonb, approvers jsonb,
  description text, attributes jsonb, requested_at timestamptz, opened_at timestamptz, updated_at timestamptz,
  closed_at timestamptz, outcome_decision_id text, last_postponed_by jsonb, last_postponed_at timestamptz, version int`;

const DECISION_COLUMNS = `decision_id text, request_id text, decision text, approver jsonb, reason text,
  decided_at timestamptz, outcome text, refusal_code text, resolved_at timestamptz`;

/**
 * Serialises work on the same requests across transactions and processes (a request and its
 * decisions arrive on different topics). Locks are taken in one global order: no deadlocks.
 */
async function lockRequests(db: EntityManager, requestIds: string[]): Promise<void> {
  await db.query(
    `SELECT pg_advisory_xact_lock(k) FROM (
       SELECT DISTINCT hashtextextended(id, 0) AS k FROM unnest($1::text[]) AS id ORDER BY k
     ) AS ordered`,
    [requestIds],
  );
}

const eventRows = (transitions: Transition[], claimed: Set<string> = new Set()): string =>
  JSON.stringify(
    transitions.map((t) => ({
      event_id: t.event.eventId,
      request_id: t.event.requestId,
      type: t.event.type,
      status_before: t.statusBefore,
      status_after: t.event.status,
      actor: t.actor,
      reason: t.reason,
      payload: t.event,
      occurred_at: iso(t.event.occurredAt),
      claimed: claimed.has(t.event.eventId),
    })),
  );

const emailRows = (emails: EmailToSend[]): string =>
  JSON.stringify(
    emails.map((e) => ({
      event_id: e.eventId,
      recipient_email: e.recipient.email.toLowerCase(),
      recipient: e.recipient,
      template: e.template,
      message_id: e.messageId,
    })),
  );

/** Events into the history/outbox; claimed ones are leased at once to the writing process. */
const EVENTS_CTE = (rows: string, leaseMs: string): string => `new_events AS (
  INSERT INTO approval_events (event_id, request_id, type, status_before, status_after, actor, reason, payload, occurred_at, locked_until)
  SELECT e.event_id, e.request_id, e.type, e.status_before, e.status_after, e.actor, e.reason, e.payload, e.occurred_at,
         CASE WHEN e.claimed THEN now() + make_interval(secs => ${leaseMs} / 1000.0) END
  FROM jsonb_to_recordset(${rows}::jsonb) AS e(event_id text, request_id text, type text, status_before text,
       status_after text, actor jsonb, reason text, payload jsonb, occurred_at timestamptz, claimed boolean)
  ON CONFLICT (event_id) DO NOTHING)`;

const EMAILS_CTE = (rows: string): string => `new_emails AS (
  INSERT INTO email_outbox (event_id, recipient_email, recipient, template, message_id)
  SELECT m.event_id, m.recipient_email, m.recipient, m.template, m.message_id
  FROM jsonb_to_recordset(${rows}::jsonb) AS m(event_id text, recipient_email text, recipient jsonb, template text, message_id text)
  ON CONFLICT DO NOTHING)`;

interface DecisionRowRead {
  decision_id: string;
  request_id: string;
  decision: ApprovalDecision['decision'];
  approver: ApprovalDecision['approver'];
  reason: string | null;
  decided_at: Date;
  received_at: Date;
}

const decisionFromRow = (row: DecisionRowRead): ApprovalDecision => ({
  decisionId: row.decision_id,
  requestId: row.request_id,
  decision: row.decision,
  approver: row.approver,
  reason: row.reason,
  decidedAt: ms(row.decided_at)!,
});

/** A batch's changes, plus the events this transaction may publish itself (see `applyBatch`). */
export interface AppliedBatch extends BatchChanges {
  publishNow: ApprovalEvent[];
}

export class ApprovalStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly messageIdDomain: string,
    /** How long an event claimed at insert stays reserved for the process that wrote it. */
    private readonly leaseMs: number,
  ) {}

  /**
   * Applies valid messages of one Kafka batch in one transaction of five round trips (begin, lock,
   * read, write, commit), whatever the batch size. Returns what changed, and the events it claimed for
   * immediate publishing: those of requests with no older unpublished event, so publishing them
   * straight after the commit cannot overtake an earlier event of the same request. The others
   * wait for the relay, which publishes per request in order.
   */
  async applyBatch(messages: InboundMessage[], now = Date.now()): Promise<AppliedBatch> {
    const requestIds = [...new Set(messages.map((m) => (m.kind === 'request' ? m.request.requestId : m.decision.requestId)))];
    const decisionIds = messages.flatMap((m) => (m.kind === 'decision' ? [m.decision.decisionId] : []));
    return this.dataSource.transaction(async (db) => {
      await lockRequests(db, requestIds);
      // One read after the locks are held, so it sees every earlier transaction on these requests.
      const [state]: Array<{ records: RecordRow[]; known: string[]; awaiting: DecisionRowRead[]; unpublished: string[] }> = await db.query(
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
      for (const row of state!.awaiting) {
        const decision = decisionFromRow(row);
        awaiting.set(decision.requestId, [...(awaiting.get(decision.requestId) ?? []), decision]);
      }
      const changes = processBatch(
        {
          records: new Map(state!.records.map((row) => [row.request_id, recordFromRow(row)])),
          knownDecisionIds: new Set(state!.known),
          awaiting,
        },
        messages,
        now,
        this.messageIdDomain,
      );
      const waiting = new Set(state!.unpublished);
      const publishNow = changes.transitions.map((t) => t.event).filter((e) => !waiting.has(e.requestId));
      await this.persist(db, changes, new Set(publishNow.map((e) => e.eventId)), now);
      return { ...changes, publishNow };
    });
  }

  /** Every change of the batch in one statement: one round trip however many rows. */
  private async persist(db: EntityManager, changes: BatchChanges, claimed: Set<string>, now: number): Promise<void> {
    const decisionRows = (wasAwaiting: boolean): string =>
      JSON.stringify(
        changes.decisions
          .filter((d) => d.wasAwaiting === wasAwaiting)
          .map((d) => ({
            decision_id: d.decision.decisionId,
            request_id: d.decision.requestId,
            decision: d.decision.decision,
            approver: d.decision.approver,
            reason: d.decision.reason,
            decided_at: iso(d.decision.decidedAt),
            outcome: d.outcome,
            refusal_code: d.refusalCode,
            resolved_at: d.outcome === 'AWAITING_REQUEST' ? null : iso(now),
          })),
      );
    await db.query(
      `WITH new_records AS (
         INSERT INTO approval_requests (request_id, operation, status, requester, cards, approvers, description, attributes,
           requested_at, opened_at, updated_at, closed_at, outcome_decision_id, last_postponed_by, last_postponed_at, version)
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(${RECORD_COLUMNS})
         ON CONFLICT (request_id) DO NOTHING),
       changed_records AS (
         UPDATE approval_requests AS a SET status = r.status, updated_at = r.updated_at, closed_at = r.closed_at,
           outcome_decision_id = r.outcome_decision_id, last_postponed_by = r.last_postponed_by,
           last_postponed_at = r.last_postponed_at, version = r.version
         FROM jsonb_to_recordset($2::jsonb) AS r(${RECORD_COLUMNS})
         WHERE a.request_id = r.request_id),
       new_decisions AS (
         INSERT INTO approval_decisions (decision_id, request_id, decision, approver, reason, decided_at, received_at, outcome, refusal_code, resolved_at)
         SELECT d.decision_id, d.request_id, d.decision, d.approver, d.reason, d.decided_at, $7, d.outcome, d.refusal_code, d.resolved_at
         FROM jsonb_to_recordset($3::jsonb) AS d(${DECISION_COLUMNS})
         ON CONFLICT (decision_id) DO NOTHING),
       resolved_decisions AS (
         UPDATE approval_decisions AS a SET outcome = d.outcome, refusal_code = d.refusal_code, resolved_at = d.resolved_at
         FROM jsonb_to_recordset($4::jsonb) AS d(${DECISION_COLUMNS})
         WHERE a.decision_id = d.decision_id AND a.outcome = 'AWAITING_REQUEST'),
       ${EVENTS_CTE('$5', '$8')},
       ${EMAILS_CTE('$6')}
       SELECT 1`,
      [
        JSON.stringify(changes.newRecords.map(recordJson)),
        JSON.stringify(changes.updatedRecords.map(recordJson)),
        decisionRows(false),
        decisionRows(true),
        eventRows(changes.transitions, claimed),
        emailRows(changes.emails),
        iso(now),
        this.leaseMs,
      ],
    );
  }

  /**
   * Refuses decisions that waited longer than `windowMs` for their request (UNKNOWN_REQUEST).
   * Takes the same per-request locks as applyBatch, so a request arriving meanwhile wins cleanly.
   */
  async refuseExpiredDecisions(windowMs: number, now = Date.now(), limit = 200): Promise<Transition[]> {
    return this.dataSource.transaction(async (db) => {
      const candidates: Array<{ request_id: string }> = await db.query(
        `SELECT DISTINCT request_id FROM approval_decisions
         WHERE outcome = 'AWAITING_REQUEST' AND received_at < $1 LIMIT $2`,
        [iso(now - windowMs), limit],
      );
      if (candidates.length === 0) return [];
      const requestIds = candidates.map((c) => c.request_id);
      await lockRequests(db, requestIds);
      const expired: DecisionRowRead[] = await db.query(
        `SELECT d.* FROM approval_decisions d
         WHERE d.request_id = ANY($1) AND d.outcome = 'AWAITING_REQUEST' AND d.received_at < $2
           AND NOT EXISTS (SELECT 1 FROM approval_requests r WHERE r.request_id = d.request_id)`,
        [requestIds, iso(now - windowMs)],
      );
      const transitions = expired.map((row) => refuseUnknownRequest(decisionFromRow(row), now, now - ms(row.received_at)!));
      await db.query(
        `UPDATE approval_decisions SET outcome = 'REFUSED', refusal_code = 'UNKNOWN_REQUEST', resolved_at = $2 WHERE decision_id = ANY($1)`,
        [expired.map((row) => row.decision_id), iso(now)],
      );
      await db.query(`WITH ${EVENTS_CTE('$1', '$2')} SELECT 1`, [eventRows(transitions), this.leaseMs]); // none claimed: the relay publishes them
      return transitions;
    });
  }
}
