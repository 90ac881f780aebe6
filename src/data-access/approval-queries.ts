// Read side of approvals for the API: search, one request with its history, an approver's tasks.
import type { DataSource } from 'typeorm';
import { recordFromRow } from './approval-records';
import type { ApprovalEventType, ApprovalRecord, DecisionDetails } from '../domain/approval';
import type { Person } from '../domain/card-operation';
import { SEARCH_TEXT } from './migrations/1764100000000-api-indexes';
import { POSITION_COLUMN, afterPosition, orderBy, positionOf, type Position, type Sort } from './request-order';

export interface SearchFilter {
  status?: string;
  operation?: string;
  approverId?: string;
  requesterId?: string;
  text?: string;
  /** Restricts results to requests this approver may see (undefined: operator, sees all). */
  visibleTo?: string;
  sort: Sort;
  /** Continue after this row (from the previous page's last); undefined for the first page. */
  after?: Position;
  limit: number;
}

/** Records in list order, each with its position (a cursor to continue after it). */
export type Listed = { record: ApprovalRecord; position: Position };

export interface HistoryEntry {
  eventId: string;
  type: ApprovalEventType;
  /** The event's own explanation (a vote's progress, a reassignment, a delegate deciding for someone). */
  message: string | null;
  statusBefore: string | null;
  statusAfter: string | null;
  actor: Person | null;
  reason: string | null;
  occurredAt: string;
  /** Who decided what, as the event carried it (null for a timer's or a conflict's entry). */
  decision: Pick<DecisionDetails, 'decision' | 'actingAs' | 'approver' | 'onBehalfOf' | 'reassign' | 'reason'> | null;
  /** Why a decision was refused (DECISION_REFUSED). */
  refusalCode: string | null;
}

/** An entry's decision, in the shape every version's events give (older ones lack onBehalfOf, reassign, actingAs). */
function decidedIn(d: Partial<DecisionDetails> | null): HistoryEntry['decision'] {
  if (!d?.decision || !d.approver) return null;
  return { decision: d.decision, actingAs: d.actingAs ?? 'APPROVER', approver: d.approver, reason: d.reason ?? null, onBehalfOf: d.onBehalfOf ?? null, reassign: d.reassign ?? null };
}

/** Searches report at most this many matches (and say so); pages go further. */
export const TOTAL_CAP = 10_000;

export class ApprovalQueries {
  constructor(private readonly dataSource: DataSource) {}

  /** One page of matches; `next` is null on the last page. */
  async search(filter: SearchFilter): Promise<{ items: ApprovalRecord[]; next: Position | null; total: number; totalCapped: boolean }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown): void => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.status) add('status = ?', filter.status);
    if (filter.operation) add('operation = ?', filter.operation);
    if (filter.approverId) add('approvers @> ?::jsonb', JSON.stringify([{ id: filter.approverId }]));
    if (filter.visibleTo) {
      // Someone who is not an operator sees what they may decide on, and what they asked for.
      params.push(JSON.stringify([{ id: filter.visibleTo }]), filter.visibleTo);
      where.push(`(approvers @> $${params.length - 1}::jsonb OR requester->>'id' = $${params.length})`);
    }
    if (filter.requesterId) add(`requester->>'id' = ?`, filter.requesterId);
    if (filter.text) {
      params.push(`%${filter.text.replace(/[%_\\]/g, '\\$&')}%`);
      const p = `$${params.length}`;
      where.push(`${SEARCH_TEXT} ILIKE ${p}`);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const pageParams = [...params, filter.limit + 1];
    let pageWhere = clause;
    if (filter.after) {
      pageParams.push(filter.after.openedAt, filter.after.requestId);
      pageWhere = `${clause ? `${clause} AND` : 'WHERE'} ${afterPosition(filter.after, `$${pageParams.length - 1}`, `$${pageParams.length}`)}`;
    }
    // One row past the page says whether another page follows. The total counts every match (not
    // only those after the cursor), up to a cap: an exact count of a million rows costs half a second.
    const [rows, [{ total }]] = await Promise.all([
      this.dataSource.query(
        `SELECT *, ${POSITION_COLUMN} FROM approval_requests ${pageWhere} ORDER BY ${orderBy(filter.sort)} LIMIT $${params.length + 1}`,
        pageParams,
      ) as Promise<Array<Record<string, unknown>>>,
      this.dataSource.query(`SELECT count(*)::int AS total FROM (SELECT 1 FROM approval_requests ${clause} LIMIT ${TOTAL_CAP + 1}) AS capped`, params),
    ]);
    const page = rows.slice(0, filter.limit);
    const next = rows.length > filter.limit ? positionOf(page[page.length - 1]!, filter.sort) : null;
    return { items: page.map(recordFromRow), next, total: Math.min(total, TOTAL_CAP), totalCapped: total > TOTAL_CAP };
  }

  /** One request, its history, and when its expiry timer fires (null: none is pending). */
  async get(requestId: string): Promise<{ record: ApprovalRecord; history: HistoryEntry[]; expiresAt: number | null } | undefined> {
    const [row] = await this.dataSource.query(
      'SELECT r.*, t.expire_at AS timer_expire_at FROM approval_requests r LEFT JOIN approval_timers t ON t.request_id = r.request_id WHERE r.request_id = $1',
      [requestId],
    );
    if (!row) return undefined;
    const events: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT event_id, type, status_before, status_after, actor, reason, occurred_at, message, decision, refusal_code FROM approval_history WHERE request_id = $1 ORDER BY seq`,
      [requestId],
    );
    return {
      record: recordFromRow(row),
      expiresAt: row.timer_expire_at === null ? null : new Date(row.timer_expire_at as string).getTime(),
      history: events.map((e) => ({
        eventId: e.event_id as string,
        type: e.type as ApprovalEventType,
        message: e.message as string | null,
        statusBefore: e.status_before as string | null,
        statusAfter: e.status_after as string | null,
        actor: e.actor as Person | null,
        reason: e.reason as string | null,
        occurredAt: new Date(e.occurred_at as string).toISOString(),
        decision: decidedIn(e.decision as Partial<DecisionDetails> | null),
        refusalCode: e.refusal_code as string | null,
      })),
    };
  }

  /**
   * Pending requests that ask any of these approvers now (the caller, and those they stand in
   * for), oldest first, after `after`. Whether they may decide on each (four-eyes, a vote already
   * cast) is the domain's to say: the caller filters with it.
   */
  async pendingFor(approverIds: string[], limit: number, after?: Position): Promise<Listed[]> {
    const sort: Sort = 'opened_at';
    const params: unknown[] = approverIds.map((id) => JSON.stringify([{ id }]));
    const asks = approverIds.map((_, i) => `approvers @> $${i + 1}::jsonb`).join(' OR ');
    params.push(limit);
    const page = after ? `AND ${afterPosition(after, `$${params.length + 1}`, `$${params.length + 2}`)}` : '';
    if (after) params.push(after.openedAt, after.requestId);
    const rows: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT *, ${POSITION_COLUMN} FROM approval_requests
        WHERE status = 'PENDING' AND (${asks}) ${page}
        ORDER BY ${orderBy(sort)} LIMIT $${approverIds.length + 1}`,
      params,
    );
    return rows.map((row) => ({ record: recordFromRow(row), position: positionOf(row, sort) }));
  }

  /**
   * Pending requests that name this person (id, case aside) in a stage or among the escalated,
   * oldest first: the caller keeps those where they still have a part. A record without stages
   * (opened by a version from before them) has one stage of its approvers less the escalated, so
   * there, being among its approvers is the same test.
   */
  async openWith(approverId: string, limit: number): Promise<ApprovalRecord[]> {
    const rows: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT * FROM approval_requests r
        WHERE status = 'PENDING' AND (
          EXISTS (SELECT 1 FROM jsonb_array_elements(r.stages) s, jsonb_array_elements(s->'approvers') a WHERE lower(a->>'id') = lower($1))
          OR EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN r.stages = '[]' THEN r.approvers ELSE r.escalated_to END) a WHERE lower(a->>'id') = lower($1)))
        ORDER BY opened_at, request_id LIMIT $2`,
      [approverId, limit],
    );
    return rows.map(recordFromRow);
  }
}
