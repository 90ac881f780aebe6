// Retention: every kind of row goes once past its time, a small batch a statement. A batch takes
// only rows no one holds (FOR UPDATE SKIP LOCKED), so it never waits on, or holds up, the consumer
// or a relay; what a batch skips, a later one takes. One worker at a time runs it (a lease row in
// maintenance_leases), each INTERVAL.
import type { DataSource } from 'typeorm';

/** The kinds of rows that retention removes, as metrics label them. */
export const RETENTION_KINDS = ['sent_emails', 'published_events', 'closed_approvals', 'unmatched_history', 'ended_delegations'] as const;
export type RetentionKind = (typeof RETENTION_KINDS)[number];

/** How long each kind stays. */
export interface RetentionTimes {
  outboxMs: number;
  closedApprovalMs: number;
  delegationMs: number;
}

const LEASE = 'retention';

const CUTOFF = 'now() - make_interval(secs => $1 / 1000.0)';

/** When a delegation stopped giving: its end, or its revocation if that came first. */
const DELEGATION_ENDED = 'least(ends_at, coalesce(revoked_at, ends_at))';

/**
 * What removes up to $2 rows of each kind whose time is $1 ms or more ago (by the database's clock): `gone`, a DELETE … RETURNING
 * request_id (or 1), and what goes with those rows. Sent emails go before their events.
 */
const REMOVE: Record<RetentionKind, { keptFor: keyof RetentionTimes; gone: string; with?: string[] }> = {
  sent_emails: {
    keptFor: 'outboxMs',
    gone: `DELETE FROM email_outbox WHERE id IN (
      SELECT id FROM email_outbox WHERE status = 'SENT' AND sent_at < ${CUTOFF} ORDER BY sent_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1`,
  },
  // An event with an email still in the outbox (waiting or parked) stays: the email is made from it.
  published_events: {
    keptFor: 'outboxMs',
    gone: `DELETE FROM approval_events WHERE seq IN (
      SELECT e.seq FROM approval_events e
      WHERE e.published_at IS NOT NULL AND e.published_at < ${CUTOFF} AND NOT EXISTS (SELECT 1 FROM email_outbox m WHERE m.event_id = e.event_id)
      ORDER BY e.published_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1`,
  },
  // A closed approval, with everything kept of it; a pending one is never taken. Its events not
  // yet published (parked) stay in the outbox until resolved.
  closed_approvals: {
    keptFor: 'closedApprovalMs',
    gone: `DELETE FROM approval_requests WHERE request_id IN (
      SELECT request_id FROM approval_requests WHERE status <> 'PENDING' AND closed_at < ${CUTOFF} ORDER BY closed_at LIMIT $2 FOR UPDATE SKIP LOCKED)
      RETURNING request_id`,
    with: ['approval_history', 'approval_decisions', 'approval_card_keys', 'approval_timers', 'email_link_uses'].map(
      (table) => `DELETE FROM ${table} WHERE request_id IN (SELECT request_id FROM gone)`,
    ),
  },
  // The history of a request that never came (its decisions, refused UNKNOWN_REQUEST), with those decisions.
  unmatched_history: {
    keptFor: 'closedApprovalMs',
    gone: `DELETE FROM approval_history WHERE seq IN (
      SELECT h.seq FROM approval_history h
      WHERE h.refusal_code = 'UNKNOWN_REQUEST' AND h.occurred_at < ${CUTOFF} AND NOT EXISTS (SELECT 1 FROM approval_requests r WHERE r.request_id = h.request_id)
      ORDER BY h.occurred_at LIMIT $2 FOR UPDATE SKIP LOCKED)
      RETURNING request_id`,
    with: [
      `DELETE FROM approval_decisions d WHERE d.request_id IN (SELECT request_id FROM gone) AND d.outcome <> 'AWAITING_REQUEST'
         AND NOT EXISTS (SELECT 1 FROM approval_requests r WHERE r.request_id = d.request_id)`,
    ],
  },
  ended_delegations: {
    keptFor: 'delegationMs',
    gone: `DELETE FROM approval_delegations WHERE delegation_id IN (
      SELECT delegation_id FROM approval_delegations WHERE ${DELEGATION_ENDED} < ${CUTOFF} LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1`,
  },
};

/** The kinds whose oldest row is measured: the history's too, which goes with its records. */
export const AGED_KINDS = ['sent_emails', 'published_events', 'closed_approvals', 'history', 'ended_delegations'] as const;

/** How old, in seconds, the oldest row of each aged kind is: its time written, published, sent, closed or ended. */
const OLDEST = `SELECT ${[
  `(SELECT min(sent_at) FROM email_outbox WHERE status = 'SENT')`,
  `(SELECT min(published_at) FROM approval_events WHERE published_at IS NOT NULL)`,
  `(SELECT min(closed_at) FROM approval_requests WHERE status <> 'PENDING')`,
  `(SELECT occurred_at FROM approval_history ORDER BY seq LIMIT 1)`,
  `(SELECT min(${DELEGATION_ENDED}) FROM approval_delegations WHERE ${DELEGATION_ENDED} < now())`,
]
  .map((oldest, i) => `coalesce(extract(epoch FROM now() - ${oldest}), 0)::float8 AS ${AGED_KINDS[i]}`)
  .join(',\n  ')}`;

/** How long each aged kind is kept, where retention removes that kind by one setting (the history goes with its records, so its age has no bound of its own). */
export function retentionPeriods(times: RetentionTimes): Partial<Record<(typeof AGED_KINDS)[number], number>> {
  const bounded = AGED_KINDS.filter((kind): kind is (typeof AGED_KINDS)[number] & RetentionKind => (RETENTION_KINDS as readonly string[]).includes(kind));
  return Object.fromEntries(bounded.map((kind) => [kind, times[REMOVE[kind].keptFor]]));
}

export class Retention {
  constructor(private readonly dataSource: DataSource) {}

  /** Takes the run when it is due and no other worker holds it (or its holder's lease ran out). */
  async claim(holder: string, leaseMs: number): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `WITH taken AS (UPDATE maintenance_leases SET holder = $2, held_until = clock_timestamp() + make_interval(secs => $3 / 1000.0)
                      WHERE name = $1 AND next_run_at <= now() AND (held_until IS NULL OR held_until < now()) RETURNING 1)
       SELECT * FROM taken`,
      [LEASE, holder, leaseMs],
    );
    return rows.length > 0;
  }

  /** Keeps the run while it goes on. */
  async renew(holder: string, leaseMs: number): Promise<void> {
    await this.dataSource.query(`UPDATE maintenance_leases SET held_until = clock_timestamp() + make_interval(secs => $3 / 1000.0) WHERE name = $1 AND holder = $2`, [LEASE, holder, leaseMs]);
  }

  /** Ends the run; the next is due `intervalMs` from now. */
  async finish(holder: string, intervalMs: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE maintenance_leases SET holder = NULL, held_until = NULL, next_run_at = now() + make_interval(secs => $3 / 1000.0) WHERE name = $1 AND holder = $2`,
      [LEASE, holder, intervalMs],
    );
  }

  /** Removes up to `limit` rows of `kind` past their time; how many it removed. */
  async remove(kind: RetentionKind, times: RetentionTimes, limit: number): Promise<number> {
    const { keptFor, gone, with: alongside = [] } = REMOVE[kind];
    const removed: unknown[] = await this.dataSource.query(
      `WITH gone AS (${gone})${alongside.map((statement, i) => `, along${i} AS (${statement})`).join('')} SELECT 1 FROM gone`,
      [times[keptFor], limit],
    );
    return removed.length;
  }

  /** How old, in seconds, the oldest row of each kind is (0: none is stored). */
  async oldestAges(): Promise<Record<(typeof AGED_KINDS)[number], number>> {
    const [row] = await this.dataSource.query(OLDEST);
    return row as Record<(typeof AGED_KINDS)[number], number>;
  }
}
