// The approvals' transactions for the use cases: per-request locks, one read of the state a
// batch folds over, and one write of everything that happened (applyBatch does all three for a
// batch from Kafka). Events and emails go to
// their outbox tables in the same statement, so nothing is sent for an uncommitted change.
import type { PoolClient, QueryResult } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import type { Delegation } from '../domain/approval-policy';
import type { ApprovalDecision } from '../domain/card-operation';
import type { BatchOutcome, BatchState } from '../domain/decide-batch';
import { nextDue, type Timers } from '../domain/approval-timers';
import type { ApprovalEvent } from '../domain/approval';
import type { ApprovalRepository, ApprovalTransaction, BatchScope, TimerClaim } from '../domain/ports';
import { RECORD_CHANGED_COLUMNS, RECORD_COLUMN_NAMES, RECORD_JSON_TYPES, RECORD_VALUES_FROM_JSON, recordFromRow, type RecordRow } from './approval-records';
import { EmailOutbox } from './email-outbox';
import { EventOutbox } from './event-outbox';

const iso = (value: number): string => new Date(value).toISOString();

const DECISION_COLUMNS = `decision_id text, request_id text, decision text, approver jsonb, reason text,
  decided_at timestamptz, acting_as text, card_outcomes jsonb, reassign jsonb, outcome text, refusal_code text, resolved_at timestamptz`;

const TIMER_COLUMNS = 'request_id text, remind_at timestamptz, reminders int, escalate_at timestamptz, expire_at timestamptz, next_at timestamptz';

interface TimerRow {
  request_id: string;
  remind_at: string | null;
  reminders: number;
  escalate_at: string | null;
  expire_at: string | null;
}

const timeOrNull = (value: string | null): number | null => (value === null ? null : new Date(value).getTime());
const isoOrNull = (value: number | null): string | null => (value === null ? null : iso(value));

const timersFromRow = (row: TimerRow): Timers => ({
  requestId: row.request_id,
  remindAt: timeOrNull(row.remind_at),
  reminders: row.reminders,
  escalateAt: timeOrNull(row.escalate_at),
  expireAt: timeOrNull(row.expire_at),
});

const timersToRow = (t: Timers) => ({
  request_id: t.requestId,
  remind_at: isoOrNull(t.remindAt),
  reminders: t.reminders,
  escalate_at: isoOrNull(t.escalateAt),
  expire_at: isoOrNull(t.expireAt),
  next_at: isoOrNull(nextDue(t)),
});

interface DecisionRow {
  decision_id: string;
  request_id: string;
  decision: ApprovalDecision['decision'];
  approver: ApprovalDecision['approver'];
  reason: string | null;
  decided_at: string | Date;
  acting_as: ApprovalDecision['actingAs'];
  card_outcomes: ApprovalDecision['cardOutcomes'];
  reassign: ApprovalDecision['reassign'];
  received_at: string | Date;
}

interface DelegationRow {
  delegation_id: string;
  approver: Delegation['approver'];
  delegate: Delegation['delegate'];
  starts_at: string;
  ends_at: string;
}

const decisionFromRow = (row: DecisionRow): ApprovalDecision => ({
  decisionId: row.decision_id,
  requestId: row.request_id,
  decision: row.decision,
  approver: row.approver,
  reason: row.reason,
  decidedAt: new Date(row.decided_at).getTime(),
  actingAs: row.acting_as,
  cardOutcomes: row.card_outcomes,
  reassign: row.reassign,
});

export const delegationFromRow = (row: DelegationRow): Delegation => ({
  delegationId: row.delegation_id,
  approver: row.approver,
  delegate: row.delegate,
  startsAt: new Date(row.starts_at).getTime(),
  endsAt: new Date(row.ends_at).getTime(),
});

/** The pg connection a TypeORM manager's transaction runs on: the hot statements go to it directly, by name. */
const connectionOf = (db: EntityManager): PoolClient => (db.queryRunner as unknown as { databaseConnection: PoolClient }).databaseConnection;

/** What approval_batch_state_v1 (migration 1765600000000) answers. */
interface StateRow {
  records: RecordRow[];
  known: string[];
  awaiting: DecisionRow[];
  unpublished: string[];
  holders: Array<{ card_key: string; request_id: string }>;
  delegations: DelegationRow[];
}

/** The arguments of approval_batch_state_v1, as one JSON object. */
const stateArgs = (requestIds: string[], decisionIds: string[], cardKeys: string[], deciders: Array<{ id: string; email: string }>): string =>
  JSON.stringify({ requestIds, decisionIds, cardKeys, deciderIds: deciders.map((p) => p.id), deciderEmails: deciders.map((p) => p.email) });

/**
 * `text` (JSON we built) as a literal of a simple query: dollar-quoted, which Postgres reads as it
 * is whatever its settings, so nothing needs escaping. pg's escaping, a character at a time, only
 * when the text holds the quote's tag.
 */
const literal = (client: PoolClient, text: string): string => (text.includes('$j$') ? client.escapeLiteral(text) : `$j$${text}$j$`);

/** The read of a batch's state, given its arguments as a parameter (`$1`) or as a quoted literal. */
const batchStateSql = (args: string): string => `SELECT approval_batch_state_v1(${args}::jsonb) AS state`;

function stateFromRow(row: StateRow): { state: BatchState; withUnpublishedEvents: Set<string> } {
  const awaiting = new Map<string, ApprovalDecision[]>();
  for (const decision of row.awaiting.map(decisionFromRow)) {
    awaiting.set(decision.requestId, [...(awaiting.get(decision.requestId) ?? []), decision]);
  }
  const records = new Map(row.records.map((r) => [r.request_id as string, recordFromRow(r)]));
  const cardHolders = new Map(row.holders.map((h) => [h.card_key, h.request_id]));
  const delegations = row.delegations.map(delegationFromRow);
  return { state: { records, knownDecisionIds: new Set(row.known), awaiting, cardHolders, delegations }, withUnpublishedEvents: new Set(row.unpublished) };
}

export class PgApprovalTransaction implements ApprovalTransaction {
  constructor(
    protected readonly db: EntityManager,
    private readonly leaseMs: number,
    /** Run the hot statements as named (prepared) statements, planned once per connection. */
    private readonly prepared: boolean,
  ) {}

  /** A hot statement: named when prepared statements are on, so the connection parses and plans it once. */
  private async hot<T>(name: string, text: string, values: unknown[]): Promise<T[]> {
    const result = await connectionOf(this.db).query({ name: this.prepared ? name : undefined, text, values });
    return result.rows as T[];
  }

  /** Locks are taken in one global order (by key), so two transactions taking them at once never deadlock (approval_lock_v1). */
  async lockRequests(requestIds: string[], cardKeys: string[]): Promise<void> {
    await this.hot('approval-lock-v1', 'SELECT approval_lock_v1($1::text[], $2::text[])', [requestIds, cardKeys]);
  }

  /**
   * One round trip, whatever the batch size: the locks (of the requests, their card keys and the
   * pending approvals holding those keys, which the batch may supersede), then the read.
   */
  async load(requestIds: string[], decisionIds: string[], cardKeys: string[], deciders: Array<{ id: string; email: string }> = []): Promise<{ state: BatchState; withUnpublishedEvents: Set<string> }> {
    const [row] = await this.hot<{ state: StateRow }>('approval-batch-state-v1', batchStateSql('$1'), [stateArgs(requestIds, decisionIds, cardKeys, deciders)]);
    return stateFromRow(row!.state);
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

  async claimedTimers(claims: TimerClaim[]): Promise<Timers[]> {
    const rows: TimerRow[] = await this.db.query(
      `SELECT t.* FROM approval_timers t JOIN jsonb_to_recordset($1::jsonb) AS c(request_id text, token uuid)
         ON c.request_id = t.request_id AND c.token = t.lease_token`,
      [JSON.stringify(claims.map((c) => ({ request_id: c.requestId, token: c.token })))],
    );
    return rows.map(timersFromRow);
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
      acting_as: decision.actingAs,
      card_outcomes: decision.cardOutcomes,
      reassign: decision.reassign,
      outcome: result,
      refusal_code: refusalCode,
      resolved_at: result === 'AWAITING_REQUEST' ? null : iso(now),
    }));
    await this.hot(
      'approval-save-v1',
      `WITH new_records AS (
         INSERT INTO approval_requests (${RECORD_COLUMN_NAMES})
         SELECT ${RECORD_VALUES_FROM_JSON('r')} FROM jsonb_to_recordset($1::jsonb) AS r(${RECORD_JSON_TYPES})
         ON CONFLICT (request_id) DO NOTHING),
       changed_records AS (
         UPDATE approval_requests AS a SET ${RECORD_CHANGED_COLUMNS('r')}
         FROM jsonb_to_recordset($2::jsonb) AS r(${RECORD_JSON_TYPES})
         WHERE a.request_id = r."requestId"),
       decisions AS (
         INSERT INTO approval_decisions (decision_id, request_id, decision, approver, reason, decided_at, acting_as, card_outcomes, reassign, received_at, outcome, refusal_code, resolved_at)
         SELECT d.decision_id, d.request_id, d.decision, d.approver, d.reason, d.decided_at, d.acting_as, d.card_outcomes, d.reassign, $6, d.outcome, d.refusal_code, d.resolved_at
         FROM jsonb_to_recordset($3::jsonb) AS d(${DECISION_COLUMNS})
         ON CONFLICT (decision_id) DO UPDATE SET outcome = excluded.outcome, refusal_code = excluded.refusal_code, resolved_at = excluded.resolved_at
         WHERE approval_decisions.outcome = 'AWAITING_REQUEST' AND approval_decisions.request_id = excluded.request_id),
       ${EventOutbox.insertCte('$4', '$7')},
       ${EmailOutbox.insertCte('$5')},
       -- Pending approvals hold their cards' keys; closed ones give them up. A key a superseded
       -- approval gives up to the request that superseded it is taken over, not deleted.
       held_keys AS (
         INSERT INTO approval_card_keys (card_key, request_id)
         SELECT k.card_key, k.request_id FROM jsonb_to_recordset($8::jsonb) AS k(card_key text, request_id text)
         ON CONFLICT (card_key) DO UPDATE SET request_id = excluded.request_id WHERE approval_card_keys.request_id <> excluded.request_id),
       freed_keys AS (
         DELETE FROM approval_card_keys WHERE request_id = ANY($9::text[])
           AND card_key <> ALL(SELECT k.card_key FROM jsonb_to_recordset($8::jsonb) AS k(card_key text, request_id text))),
       -- A pending approval's timers, replaced whole (and released from any lease); an approval
       -- with none left, closed ones among them, has no row.
       set_timers AS (
         INSERT INTO approval_timers (request_id, remind_at, reminders, escalate_at, expire_at, next_at)
         SELECT * FROM jsonb_to_recordset($10::jsonb) AS t(${TIMER_COLUMNS})
         ON CONFLICT (request_id) DO UPDATE SET remind_at = excluded.remind_at, reminders = excluded.reminders, escalate_at = excluded.escalate_at,
           expire_at = excluded.expire_at, next_at = excluded.next_at, lease_until = NULL, lease_token = NULL, attempts = 0),
       cleared_timers AS (
         DELETE FROM approval_timers WHERE request_id = ANY($11::text[]))
       SELECT 1`,
      [
        JSON.stringify(outcome.opened),
        JSON.stringify(outcome.changed),
        JSON.stringify(decisions),
        EventOutbox.eventRows(outcome.transitions, new Set(claimedEventIds)),
        EmailOutbox.emailRows(outcome.emails),
        iso(now),
        this.leaseMs,
        JSON.stringify(outcome.cardKeys.held.map((k) => ({ card_key: k.cardKey, request_id: k.requestId }))),
        outcome.cardKeys.freedBy,
        JSON.stringify(outcome.timers.set.map(timersToRow)),
        outcome.timers.cleared,
      ],
    );
  }
}

export class ApprovalStore implements ApprovalRepository {
  constructor(
    private readonly dataSource: DataSource,
    /** The event outbox's lease, for the events a transaction claims for its own process. */
    private readonly events: Pick<EventOutbox, 'leaseMs'>,
    /** Named (prepared) statements for the hot queries (DATABASE_PREPARED_STATEMENTS). */
    private readonly prepared: boolean,
  ) {}

  inTransaction<T>(work: (tx: ApprovalTransaction) => Promise<T>): Promise<T> {
    return this.dataSource.transaction((db) => work(new PgApprovalTransaction(db, this.events.leaseMs, this.prepared)));
  }

  /**
   * Three round trips. First one simple query (pg pipelines nothing else; the functions keep
   * their plans): the audit keys of the batch's actors that have none, committed at once
   * (audit_person_keys_v1), then the transaction's start, its locks and its read. Then the
   * write, and the commit.
   */
  async applyBatch(scope: BatchScope, decide: (state: BatchState) => BatchOutcome, now: number): Promise<{ outcome: BatchOutcome; publishNow: ApprovalEvent[] }> {
    const runner = this.dataSource.createQueryRunner();
    const client = (await runner.connect()) as PoolClient;
    try {
      const args = literal(client, stateArgs(scope.requestIds, scope.decisionIds, scope.cardKeys, scope.deciders));
      const keys = `SELECT audit_person_keys_v1(${literal(client, JSON.stringify(scope.actors))}::jsonb); COMMIT; `;
      const results = (await client.query(`${keys}START TRANSACTION; ${batchStateSql(args)}`)) as unknown as QueryResult[];
      const { state, withUnpublishedEvents } = stateFromRow((results.at(-1)!.rows[0] as { state: StateRow }).state);
      const outcome = decide(state);
      const publishNow = outcome.transitions.map((t) => t.event).filter((e) => !withUnpublishedEvents.has(e.requestId));
      await new PgApprovalTransaction(runner.manager, this.events.leaseMs, this.prepared).save(outcome, publishNow.map((e) => e.eventId), now);
      await client.query('COMMIT');
      return { outcome, publishNow };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  /**
   * Leases timers due at `now` to this process, oldest first; rows another process holds are
   * skipped. A lease that runs out (its holder died) lets the timers be claimed again.
   */
  async claimDueTimers(now: number, limit: number, leaseMs: number): Promise<TimerClaim[]> {
    const rows: Array<{ request_id: string; lease_token: string; attempts: number }> = await this.dataSource.query(
      // In a CTE: the driver returns rows for a SELECT, but [rows, count] for a bare UPDATE … RETURNING.
      `WITH claimed AS (
         UPDATE approval_timers SET lease_until = clock_timestamp() + make_interval(secs => $3 / 1000.0), lease_token = gen_random_uuid(), attempts = attempts + 1
         WHERE request_id IN (
           SELECT request_id FROM approval_timers
           WHERE next_at <= $1 AND parked_at IS NULL AND (lease_until IS NULL OR lease_until < clock_timestamp())
           ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING request_id, lease_token, attempts)
       SELECT * FROM claimed`,
      [iso(now), limit, leaseMs],
    );
    return rows.map((r) => ({ requestId: r.request_id, token: r.lease_token, attempts: r.attempts }));
  }

  /** Sets a timer aside, with why, while this claim still holds it: it is claimed no more until unparked. */
  async parkTimer(claim: TimerClaim, reason: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE approval_timers SET parked_at = now(), last_error = $3, lease_until = NULL, lease_token = NULL WHERE request_id = $1 AND lease_token = $2`,
      [claim.requestId, claim.token, reason.slice(0, 2000)],
    );
  }
}
