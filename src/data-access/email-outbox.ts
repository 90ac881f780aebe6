// The email outbox: one row per (event, recipient), written in the batch's own transaction and
// delivered by the email relay, which claims rows with a lease as the event outbox does. The
// Message-ID is stored with the row, so a resend is recognisably the same email.
import type { DataSource } from 'typeorm';
import type { ApprovalEvent, EmailTemplate, EmailToSend } from '../domain/approval';
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

export class EmailOutbox {
  constructor(
    private readonly dataSource: DataSource,
    /** How long a claim lasts: it must outlive one send, or a slow send may be repeated. */
    readonly leaseMs: number,
  ) {}

  /** The part of a write statement that queues emails (`rows`: the JSON of `emailRows`). */
  static insertCte(rows: string): string {
    return `new_emails AS (
      INSERT INTO email_outbox (event_id, recipient_email, recipient, template, message_id)
      SELECT m.event_id, m.recipient_email, m.recipient, m.template, m.message_id
      FROM jsonb_to_recordset(${rows}::jsonb) AS m(event_id text, recipient_email text, recipient jsonb, template text, message_id text)
      ON CONFLICT DO NOTHING)`;
  }

  static emailRows(emails: EmailToSend[]): string {
    return JSON.stringify(
      emails.map((e) => ({
        event_id: e.eventId,
        recipient_email: e.recipient.email.toLowerCase(),
        recipient: e.recipient,
        template: e.template,
        message_id: e.messageId,
      })),
    );
  }

  async claim(limit: number): Promise<ClaimedEmail[]> {
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
      [limit, this.leaseMs],
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

  async markSent(ids: string[]): Promise<void> {
    await this.dataSource.query(`UPDATE email_outbox SET status = 'SENT', sent_at = now(), locked_until = NULL, last_error = NULL WHERE id = ANY($1::bigint[])`, [ids]);
  }

  async retryLater(id: string, delayMs: number, error: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE email_outbox SET locked_until = NULL, last_error = $3, next_attempt_at = now() + make_interval(secs => $2 / 1000.0) WHERE id = $1`,
      [id, delayMs, error],
    );
  }

  /** Parks an email that can never be sent (the server refused it for good); it stays visible with the reason. */
  async park(id: string, error: string): Promise<void> {
    await this.dataSource.query(`UPDATE email_outbox SET status = 'PARKED', locked_until = NULL, last_error = $2 WHERE id = $1`, [id, error]);
  }
}
