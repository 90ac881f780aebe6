// Claims outbox rows with a lease (FOR UPDATE SKIP LOCKED + locked_until) so several relays,
// in one process or many, never send the same row at once, and a relay that dies mid-send only
// delays its rows until the lease runs out. Rows are never skipped: a relay looks for unsent
// rows, not for ids above the last one it saw.
import type { DataSource } from 'typeorm';
import type { ApprovalEvent, EmailTemplate } from '../domain/approval';
import type { Person } from '../domain/card-operation';

export interface ClaimedEmail {
  id: string;
  eventId: string;
  recipient: Person;
  template: EmailTemplate;
  messageId: string;
  attempts: number;
  event: ApprovalEvent;
}

export class OutboxStore {
  // Statements that change rows are wrapped as `WITH … SELECT`: TypeORM returns plain rows for a
  // SELECT but [rows, count] for a bare UPDATE … RETURNING.
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Claims unpublished events, at most one per request at a time (the oldest), so events of one
   * request reach the topic in the order they happened.
   */
  async claimEvents(limit: number, leaseMs: number): Promise<ApprovalEvent[]> {
    const rows: Array<{ payload: ApprovalEvent }> = await this.dataSource.query(
      `WITH claimed AS (
         UPDATE approval_events SET locked_until = now() + make_interval(secs => $2 / 1000.0), publish_attempts = publish_attempts + 1
         WHERE seq IN (
           SELECT e.seq FROM approval_events e
           WHERE e.published_at IS NULL AND (e.locked_until IS NULL OR e.locked_until < now())
             AND NOT EXISTS (SELECT 1 FROM approval_events p
                             WHERE p.request_id = e.request_id AND p.published_at IS NULL AND p.seq < e.seq)
           ORDER BY e.seq LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING seq, payload)
       SELECT payload FROM claimed ORDER BY seq`,
      [limit, leaseMs],
    );
    return rows.map((r) => r.payload);
  }

  async markPublished(eventIds: string[]): Promise<void> {
    await this.dataSource.query(`UPDATE approval_events SET published_at = now(), locked_until = NULL, last_error = NULL WHERE event_id = ANY($1)`, [eventIds]);
  }

  async releaseEvents(eventIds: string[], error: string): Promise<void> {
    await this.dataSource.query(`UPDATE approval_events SET locked_until = NULL, last_error = $2 WHERE event_id = ANY($1)`, [eventIds, error]);
  }

  async claimEmails(limit: number, leaseMs: number): Promise<ClaimedEmail[]> {
    const rows: Array<{
      id: string;
      event_id: string;
      recipient: Person;
      template: EmailTemplate;
      message_id: string;
      attempts: number;
      payload: ApprovalEvent;
    }> = await this.dataSource.query(
      `WITH claimed AS (
         UPDATE email_outbox SET locked_until = now() + make_interval(secs => $2 / 1000.0), attempts = attempts + 1
         WHERE id IN (
           SELECT id FROM email_outbox
           WHERE status = 'PENDING' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
           ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, recipient, template, message_id, attempts)
       SELECT c.*, e.payload FROM claimed c JOIN approval_events e USING (event_id)`,
      [limit, leaseMs],
    );
    return rows.map((r) => ({
      id: r.id,
      eventId: r.event_id,
      recipient: r.recipient,
      template: r.template,
      messageId: r.message_id,
      attempts: r.attempts,
      event: r.payload,
    }));
  }

  async markEmailsSent(ids: string[]): Promise<void> {
    await this.dataSource.query(`UPDATE email_outbox SET status = 'SENT', sent_at = now(), locked_until = NULL, last_error = NULL WHERE id = ANY($1::bigint[])`, [ids]);
  }

  async retryEmailLater(id: string, delayMs: number, error: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE email_outbox SET locked_until = NULL, last_error = $3, next_attempt_at = now() + make_interval(secs => $2 / 1000.0) WHERE id = $1`,
      [id, delayMs, error],
    );
  }

  /** Parks an email the SMTP server refused for good (5xx); it stays visible with the reason. */
  async parkEmail(id: string, error: string): Promise<void> {
    await this.dataSource.query(`UPDATE email_outbox SET status = 'PARKED', locked_until = NULL, last_error = $2 WHERE id = $1`, [id, error]);
  }
}
