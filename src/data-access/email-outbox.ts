// The email outbox: one row per (event, recipient), written in the batch's own transaction and
// delivered by the email relay, which claims rows with a lease as the event outbox does. The
// Message-ID is stored with the row, so a resend is recognisably the same email. A claimed email
// comes with its event and with when the request expires (its expiry timer, which the API also
// reads to refuse late decisions), which approver emails state: the policy's expiry is not in the event.
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { ApprovalEvent, EmailTemplate, EmailToSend } from '../domain/approval';
import type { Person } from '../domain/card-operation';
import { claimWalkingIndex } from './data-source';

export interface ClaimedEmail {
  id: string;
  eventId: string;
  recipient: Person;
  template: EmailTemplate;
  messageId: string;
  attempts: number;
  event: ApprovalEvent;
  /** When the request's expiry timer fires, as it stands when the email is sent (null: it has none, or has ended). */
  expiresAt: number | null;
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

  /**
   * Claims due emails under one lease token. The token is the claim's proof: every mark below
   * lands only while it is still the row's token, so a relay whose lease ran out and was taken
   * over cannot mark what the new holder is sending.
   */
  async claim(limit: number): Promise<{ token: string; emails: ClaimedEmail[] }> {
    const token = randomUUID();
    const rows = await claimWalkingIndex<{
      id: string;
      event_id: string;
      recipient: Person;
      template: EmailTemplate;
      message_id: string;
      attempts: number;
      payload: ApprovalEvent;
      expire_at: string | Date | null;
    }>(
      this.dataSource,
      `WITH claimed AS (
         UPDATE email_outbox SET locked_until = clock_timestamp() + make_interval(secs => $2 / 1000.0), attempts = attempts + 1, lease_token = $3
         WHERE id IN (
           SELECT id FROM email_outbox
           WHERE status = 'PENDING' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
           ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, recipient, template, message_id, attempts)
       SELECT c.*, e.payload, t.expire_at FROM claimed c JOIN approval_events e USING (event_id)
       LEFT JOIN approval_timers t ON t.request_id = e.request_id
       ORDER BY c.id`,
      [limit, this.leaseMs, token],
    );
    return {
      token,
      emails: rows.map((r) => ({
        id: r.id,
        eventId: r.event_id,
        recipient: r.recipient,
        template: r.template,
        messageId: r.message_id,
        attempts: r.attempts,
        event: r.payload,
        expiresAt: r.expire_at === null ? null : new Date(r.expire_at).getTime(),
      })),
    };
  }

  /** Extends the lease on those of `ids` still held with `token`; returns the ids still held. */
  async renew(ids: string[], token: string): Promise<string[]> {
    const rows: Array<{ id: string }> = await this.dataSource.query(
      `WITH renewed AS (
         UPDATE email_outbox SET locked_until = clock_timestamp() + make_interval(secs => $3 / 1000.0)
         WHERE id = ANY($1::bigint[]) AND lease_token = $2 AND status = 'PENDING'
         RETURNING id)
       SELECT id::text FROM renewed`,
      [ids, token, this.leaseMs],
    );
    return rows.map((r) => r.id);
  }

  /** Marks sent those emails whose lease each mark's token still holds; returns how many landed. */
  async markSent(marks: Array<{ id: string; token: string }>): Promise<number> {
    const rows: unknown[] = await this.dataSource.query(
      `WITH sent AS (
         UPDATE email_outbox o SET status = 'SENT', sent_at = now(), locked_until = NULL, last_error = NULL
         FROM unnest($1::bigint[], $2::uuid[]) AS m(id, token)
         WHERE o.id = m.id AND o.lease_token = m.token AND o.status = 'PENDING'
         RETURNING 1)
       SELECT * FROM sent`,
      [marks.map((m) => m.id), marks.map((m) => m.token)],
    );
    return rows.length;
  }

  /** Due again after `delayMs`; false if the lease was lost meanwhile (the new holder decides). */
  async retryLater(id: string, token: string, delayMs: number, error: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `WITH later AS (
         UPDATE email_outbox SET locked_until = NULL, last_error = $4, next_attempt_at = now() + make_interval(secs => $3 / 1000.0)
         WHERE id = $1 AND lease_token = $2 AND status = 'PENDING' RETURNING 1)
       SELECT * FROM later`,
      [id, token, delayMs, error],
    );
    return rows.length > 0;
  }

  /** Parks an email that can never be sent (the server refused it for good); it stays visible with the reason. */
  async park(id: string, token: string, error: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `WITH parked AS (
         UPDATE email_outbox SET status = 'PARKED', locked_until = NULL, last_error = $3
         WHERE id = $1 AND lease_token = $2 AND status = 'PENDING' RETURNING 1)
       SELECT * FROM parked`,
      [id, token, error],
    );
    return rows.length > 0;
  }
}
