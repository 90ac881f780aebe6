// The event outbox: approval_events is the queue of events to publish (the database copies each
// into approval_history, the request's history, as it is stored; retention removes published rows).
// Rows are written in the batch's own transaction; a relay claims unpublished ones with a lease
// (FOR UPDATE SKIP LOCKED + locked_until), so several relays never publish one row at once and a
// relay that dies only delays its rows until the lease ends. Rows are never skipped: a relay
// looks for unpublished rows, not for ids above the last one it saw.
import type { DataSource } from 'typeorm';
import type { ApprovalEvent, Transition } from '../domain/approval';
import { claimWalkingIndex } from './data-source';

export class EventOutbox {
  // Statements that change rows are wrapped as `WITH … SELECT`: TypeORM returns plain rows for a
  // SELECT but [rows, count] for a bare UPDATE … RETURNING.
  constructor(
    private readonly dataSource: DataSource,
    /** How long a claim lasts, whether made at insert or by a relay. */
    readonly leaseMs: number,
  ) {}

  /**
   * The part of a write statement that stores events (`rows`: the JSON of `eventRows`); the ones
   * marked claimed are leased at once to the process that wrote them, which publishes them itself.
   * The lease runs from the statement's clock, not the transaction's start (`now()`): a transaction
   * that waited on locks must not hand over an event whose lease has already run out.
   */
  static insertCte(rows: string, leaseMs: string): string {
    return `new_events AS (
      INSERT INTO approval_events (event_id, request_id, type, status_before, status_after, actor, reason, payload, occurred_at, locked_until)
      SELECT e.event_id, e.request_id, e.type, e.status_before, e.status_after, e.actor, e.reason, e.payload, e.occurred_at,
             CASE WHEN e.claimed THEN clock_timestamp() + make_interval(secs => ${leaseMs} / 1000.0) END
      FROM jsonb_to_recordset(${rows}::jsonb) AS e(event_id text, request_id text, type text, status_before text,
           status_after text, actor jsonb, reason text, payload jsonb, occurred_at timestamptz, claimed boolean)
      ON CONFLICT (event_id) DO NOTHING)`;
  }

  static eventRows(transitions: Transition[], claimed: Set<string>): string {
    return JSON.stringify(
      transitions.map((t) => ({
        event_id: t.event.eventId,
        request_id: t.event.requestId,
        type: t.event.type,
        status_before: t.statusBefore,
        status_after: t.event.status,
        actor: t.actor,
        reason: t.reason,
        payload: t.event,
        occurred_at: new Date(t.event.occurredAt).toISOString(),
        claimed: claimed.has(t.event.eventId),
      })),
    );
  }

  /**
   * Claims unpublished events, at most one per request at a time (the oldest), so events of one
   * request reach the topic in the order they happened. A parked event is never claimed, and
   * the events of its request after it wait behind it.
   */
  async claim(limit: number): Promise<ApprovalEvent[]> {
    const rows = await claimWalkingIndex<{ payload: ApprovalEvent }>(
      this.dataSource,
      `WITH claimed AS (
         UPDATE approval_events SET locked_until = clock_timestamp() + make_interval(secs => $2 / 1000.0)
         WHERE seq IN (
           SELECT e.seq FROM approval_events e
           WHERE e.published_at IS NULL AND e.parked_at IS NULL AND (e.locked_until IS NULL OR e.locked_until < now())
             AND NOT EXISTS (SELECT 1 FROM approval_events p
                             WHERE p.request_id = e.request_id AND p.published_at IS NULL AND p.seq < e.seq)
           ORDER BY e.seq LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING seq, payload)
       SELECT payload FROM claimed ORDER BY seq`,
      [limit, this.leaseMs],
    );
    return rows.map((r) => r.payload);
  }

  /** Extends the lease of events being published, so a slow send is never taken over by another relay. */
  async renew(eventIds: string[]): Promise<void> {
    await this.dataSource.query(
      `UPDATE approval_events SET locked_until = clock_timestamp() + make_interval(secs => $2 / 1000.0) WHERE event_id = ANY($1) AND published_at IS NULL`,
      [eventIds, this.leaseMs],
    );
  }

  async markPublished(eventIds: string[]): Promise<void> {
    await this.dataSource.query(`UPDATE approval_events SET published_at = now(), locked_until = NULL, last_error = NULL WHERE event_id = ANY($1)`, [eventIds]);
  }

  /** Gives claimed events back to the queue (a send failed, or the process stops). */
  async release(eventIds: string[], error: string): Promise<void> {
    if (eventIds.length === 0) return;
    await this.dataSource.query(`UPDATE approval_events SET locked_until = NULL, last_error = $2 WHERE event_id = ANY($1) AND published_at IS NULL`, [eventIds, error]);
  }

  /**
   * Counts a failed attempt that was this event's own. Below `maxAttempts` it waits a backoff
   * before any relay tries it again; at `maxAttempts` it is parked with the reason.
   */
  async recordFailure(eventId: string, error: string, maxAttempts: number): Promise<{ attempts: number; parked: boolean }> {
    const [row]: Array<{ attempts: number; parked: boolean }> = await this.dataSource.query(
      `WITH failed AS (
         UPDATE approval_events SET publish_attempts = publish_attempts + 1, last_error = $2,
           parked_at = CASE WHEN publish_attempts + 1 >= $3 THEN now() END,
           locked_until = CASE WHEN publish_attempts + 1 >= $3 THEN NULL
                               ELSE clock_timestamp() + make_interval(secs => 0.25 * 2 ^ publish_attempts) END
         WHERE event_id = $1 AND published_at IS NULL
         RETURNING publish_attempts AS attempts, parked_at IS NOT NULL AS parked)
       SELECT * FROM failed`,
      [eventId, error, maxAttempts],
    );
    return row ?? { attempts: 0, parked: false };
  }

  /** Parked events, oldest first, with how many later events of their request wait behind each. */
  async parked(limit = 100): Promise<ParkedEvent[]> {
    const rows: Array<{ event_id: string; request_id: string; type: string; attempts: number; parked_at: Date; last_error: string | null; waiting: number }> =
      await this.dataSource.query(
        `SELECT e.event_id, e.request_id, e.type, e.publish_attempts AS attempts, e.parked_at, e.last_error,
                (SELECT count(*)::int FROM approval_events w WHERE w.request_id = e.request_id AND w.published_at IS NULL AND w.seq > e.seq) AS waiting
         FROM approval_events e WHERE e.parked_at IS NOT NULL AND e.published_at IS NULL ORDER BY e.parked_at LIMIT $1`,
        [limit],
      );
    return rows.map((r) => ({ eventId: r.event_id, requestId: r.request_id, type: r.type, attempts: r.attempts, parkedAt: new Date(r.parked_at).toISOString(), error: r.last_error, waitingBehind: r.waiting }));
  }

  /** Puts parked events back in the queue (after the cause was fixed, e.g. the topic's size limit). */
  async unpark(eventIds: string[] | 'all'): Promise<number> {
    const rows: unknown[] = await this.dataSource.query(
      `WITH unparked AS (
         UPDATE approval_events SET parked_at = NULL, publish_attempts = 0, locked_until = NULL
         WHERE parked_at IS NOT NULL AND published_at IS NULL AND ($1::text[] IS NULL OR event_id = ANY($1))
         RETURNING 1)
       SELECT * FROM unparked`,
      [eventIds === 'all' ? null : eventIds],
    );
    return rows.length;
  }
}

export interface ParkedEvent {
  eventId: string;
  requestId: string;
  type: string;
  attempts: number;
  parkedAt: string;
  error: string | null;
  /** Later events of the same request, held back to keep its order. */
  waitingBehind: number;
}
