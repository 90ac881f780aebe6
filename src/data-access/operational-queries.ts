// The queries operators need: what is waiting, and since when; and putting parked timers back.
import type { DataSource } from 'typeorm';

export class OperationalQueries {
  constructor(private readonly dataSource: DataSource) {}

  /** The outboxes' rows waiting and parked, and how long the email due longest has been due (0: none is). */
  async outboxBacklog(): Promise<{ events: number; emails: number; parkedEvents: number; parkedEmails: number; emailsOverdueSeconds: number }> {
    const [row] = await this.dataSource.query(`
      SELECT (SELECT count(*) FROM approval_events WHERE published_at IS NULL)::int AS events,
             (SELECT count(*) FROM email_outbox WHERE status = 'PENDING')::int AS emails,
             (SELECT count(*) FROM approval_events WHERE parked_at IS NOT NULL AND published_at IS NULL)::int AS "parkedEvents",
             (SELECT count(*) FROM email_outbox WHERE status = 'PARKED')::int AS "parkedEmails",
             coalesce((SELECT extract(epoch FROM now() - min(next_attempt_at)) FROM email_outbox WHERE status = 'PENDING' AND next_attempt_at <= now()), 0)::float8 AS "emailsOverdueSeconds"`);
    return row as { events: number; emails: number; parkedEvents: number; parkedEmails: number; emailsOverdueSeconds: number };
  }

  /** Pending approvals per operation, and how old the oldest of each is, in seconds. */
  async pendingApprovals(): Promise<Record<string, { pending: number; oldestAgeSeconds: number }>> {
    const rows: Array<{ operation: string; pending: number; oldest: number | null }> = await this.dataSource.query(`
      SELECT operation, count(*)::int AS pending, extract(epoch FROM now() - min(opened_at))::float8 AS oldest
      FROM approval_requests WHERE status = 'PENDING' GROUP BY operation`);
    return Object.fromEntries(rows.map((r) => [r.operation, { pending: r.pending, oldestAgeSeconds: Math.max(0, r.oldest ?? 0) }]));
  }

  /** Parked timers are counted apart: they wait for an operator, not for a worker. */
  async timers(): Promise<{ waiting: number; overdueSeconds: number; parked: number }> {
    const [row] = await this.dataSource.query(`
      SELECT count(*) FILTER (WHERE parked_at IS NULL)::int AS waiting,
             coalesce(extract(epoch FROM now() - min(next_at) FILTER (WHERE next_at < now() AND parked_at IS NULL)), 0)::float8 AS "overdueSeconds",
             count(*) FILTER (WHERE parked_at IS NOT NULL)::int AS parked
      FROM approval_timers`);
    return row as { waiting: number; overdueSeconds: number; parked: number };
  }

  /** Parked timers, oldest first. */
  async parkedTimers(limit = 100): Promise<ParkedTimer[]> {
    const rows: Array<{ request_id: string; parked_at: Date; attempts: number; last_error: string | null }> = await this.dataSource.query(
      `SELECT request_id, parked_at, attempts, last_error FROM approval_timers WHERE parked_at IS NOT NULL ORDER BY parked_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ requestId: r.request_id, parkedAt: new Date(r.parked_at).toISOString(), attempts: r.attempts, error: r.last_error }));
  }

  /** Puts parked timers back (after the fix): they fire at the next poll. */
  async unparkTimers(requestIds: string[] | 'all'): Promise<number> {
    const rows: unknown[] = await this.dataSource.query(
      `WITH back AS (UPDATE approval_timers SET parked_at = NULL, attempts = 0, last_error = NULL
                     WHERE parked_at IS NOT NULL AND ($1::text[] IS NULL OR request_id = ANY($1)) RETURNING 1)
       SELECT * FROM back`,
      [requestIds === 'all' ? null : requestIds],
    );
    return rows.length;
  }

  async ping(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }
}

export interface ParkedTimer {
  requestId: string;
  parkedAt: string;
  attempts: number;
  /** Why firing it failed, the last time. */
  error: string | null;
}
