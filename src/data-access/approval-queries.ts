// Read side of approvals for the API: search, one request with its history, an approver's tasks.
import type { DataSource } from 'typeorm';
import { recordFromRow } from './approval-records';
import type { ApprovalRecord } from '../domain/approval';
import { SEARCH_TEXT } from './migrations/1764100000000-api-indexes';

export interface SearchFilter {
  status?: string;
  operation?: string;
  approverId?: string;
  requesterId?: string;
  text?: string;
  /** Restricts results to requests this approver may see (undefined: operator, sees all). */
  visibleTo?: string;
  page: number;
  pageSize: number;
  sort: 'opened_at' | '-opened_at';
}

export interface HistoryEntry {
  eventId: string;
  type: string;
  statusBefore: string | null;
  statusAfter: string | null;
  actor: unknown;
  reason: string | null;
  occurredAt: string;
}

/** Searches report at most this many matches (and say so); pages go further. */
export const TOTAL_CAP = 10_000;

export class ApprovalQueries {
  constructor(private readonly dataSource: DataSource) {}

  async search(filter: SearchFilter): Promise<{ items: ApprovalRecord[]; total: number; totalCapped: boolean }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown): void => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.status) add('status = ?', filter.status);
    if (filter.operation) add('operation = ?', filter.operation);
    if (filter.approverId) add('approvers @> ?::jsonb', JSON.stringify([{ id: filter.approverId }]));
    if (filter.visibleTo) add('approvers @> ?::jsonb', JSON.stringify([{ id: filter.visibleTo }]));
    if (filter.requesterId) add(`requester->>'id' = ?`, filter.requesterId);
    if (filter.text) {
      params.push(`%${filter.text.replace(/[%_\\]/g, '\\$&')}%`);
      const p = `$${params.length}`;
      where.push(`${SEARCH_TEXT} ILIKE ${p}`);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const order = filter.sort === 'opened_at' ? 'opened_at ASC' : 'opened_at DESC';
    // The total is counted up to a cap: an exact count of a million rows costs half a second.
    const [rows, [{ total }]] = await Promise.all([
      this.dataSource.query(
        `SELECT * FROM approval_requests ${clause} ORDER BY ${order}, request_id LIMIT ${filter.pageSize} OFFSET ${(filter.page - 1) * filter.pageSize}`,
        params,
      ),
      this.dataSource.query(`SELECT count(*)::int AS total FROM (SELECT 1 FROM approval_requests ${clause} LIMIT ${TOTAL_CAP + 1}) AS capped`, params),
    ]);
    return { items: rows.map(recordFromRow), total: Math.min(total, TOTAL_CAP), totalCapped: total > TOTAL_CAP };
  }

  async get(requestId: string): Promise<{ record: ApprovalRecord; history: HistoryEntry[] } | undefined> {
    const [row] = await this.dataSource.query('SELECT * FROM approval_requests WHERE request_id = $1', [requestId]);
    if (!row) return undefined;
    const events: Array<Record<string, unknown>> = await this.dataSource.query(
      'SELECT event_id, type, status_before, status_after, actor, reason, occurred_at FROM approval_events WHERE request_id = $1 ORDER BY seq',
      [requestId],
    );
    return {
      record: recordFromRow(row),
      history: events.map((e) => ({
        eventId: e.event_id as string,
        type: e.type as string,
        statusBefore: e.status_before as string | null,
        statusAfter: e.status_after as string | null,
        actor: e.actor,
        reason: e.reason as string | null,
        occurredAt: new Date(e.occurred_at as string).toISOString(),
      })),
    };
  }

  /**
   * Pending requests that name this approver, oldest first. Whether they may decide on each (the
   * four-eyes rule) is the domain's to say: the caller filters with it.
   */
  async pendingFor(approverId: string, limit: number, offset = 0): Promise<ApprovalRecord[]> {
    const rows = await this.dataSource.query(
      `SELECT * FROM approval_requests WHERE status = 'PENDING' AND approvers @> $1::jsonb ORDER BY opened_at, request_id LIMIT $2 OFFSET $3`,
      [JSON.stringify([{ id: approverId }]), limit, offset],
    );
    return rows.map(recordFromRow);
  }
}
