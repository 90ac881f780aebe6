// Read-only queries operators need: what is waiting, and since when.
import type { DataSource } from 'typeorm';

export class OperationalQueries {
  constructor(private readonly dataSource: DataSource) {}

  async outboxBacklog(): Promise<{ events: number; emails: number; parkedEvents: number; parkedEmails: number }> {
    const [row] = await this.dataSource.query(`
      SELECT (SELECT count(*) FROM approval_events WHERE published_at IS NULL)::int AS events,
             (SELECT count(*) FROM email_outbox WHERE status = 'PENDING')::int AS emails,
             (SELECT count(*) FROM approval_events WHERE parked_at IS NOT NULL AND published_at IS NULL)::int AS "parkedEvents",
             (SELECT count(*) FROM email_outbox WHERE status = 'PARKED')::int AS "parkedEmails"`);
    return row as { events: number; emails: number; parkedEvents: number; parkedEmails: number };
  }

  async pendingApprovals(): Promise<{ byOperation: Record<string, number>; oldestAgeSeconds: number }> {
    const rows: Array<{ operation: string; pending: number; oldest: number | null }> = await this.dataSource.query(`
      SELECT operation, count(*)::int AS pending, extract(epoch FROM now() - min(opened_at))::float8 AS oldest
      FROM approval_requests WHERE status = 'PENDING' GROUP BY operation`);
    return {
      byOperation: Object.fromEntries(rows.map((r) => [r.operation, r.pending])),
      oldestAgeSeconds: Math.max(0, ...rows.map((r) => r.oldest ?? 0)),
    };
  }

  async timers(): Promise<{ waiting: number; overdueSeconds: number }> {
    const [row] = await this.dataSource.query(`
      SELECT count(*)::int AS waiting, coalesce(extract(epoch FROM now() - min(next_at) FILTER (WHERE next_at < now())), 0)::float8 AS "overdueSeconds"
      FROM approval_timers`);
    return row as { waiting: number; overdueSeconds: number };
  }

  async ping(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }
}
