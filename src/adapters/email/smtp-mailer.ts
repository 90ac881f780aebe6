// Sends email over a pooled SMTP connection. SMTP has no idempotency, so every message carries
// a deterministic Message-ID: a resend after a crash is recognisably the same email. Every message
// also says it was sent by a program (RFC 3834's Auto-Submitted, and the header Exchange and
// Outlook read), so auto-responders do not answer it.
import nodemailer, { type Transporter } from 'nodemailer';
import { AppError, TransientError, errorMessage } from '../../libraries/errors';
import type { RenderedEmail } from './render-email';

/** The headers every email carries, whatever its kind. */
export const AUTOMATIC_EMAIL_HEADERS = {
  'Auto-Submitted': 'auto-generated',
  'X-Auto-Response-Suppress': 'All',
} as const;

export interface OutgoingEmail extends RenderedEmail {
  to: string;
  messageId: string;
}

export class SmtpMailer {
  private readonly transport: Transporter;

  constructor(
    smtpUrl: string,
    private readonly from: string,
    maxConnections: number,
    /** The longest one send may take; the email relay's lease covers this much per send. */
    readonly sendTimeoutMs: number,
    /** Where replies go (EMAIL_REPLY_TO); without it, no Reply-To. */
    private readonly replyTo?: string,
  ) {
    const url = new URL(smtpUrl);
    this.transport = nodemailer.createTransport({
      pool: true,
      maxConnections,
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 587)),
      secure: url.protocol === 'smtps:',
      auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
      // A local or internal relay without TLS is fine; with STARTTLS offered, nodemailer uses it.
      ignoreTLS: url.searchParams.get('tls') === 'off',
      connectionTimeout: Math.min(5000, sendTimeoutMs),
      greetingTimeout: Math.min(5000, sendTimeoutMs),
      socketTimeout: sendTimeoutMs,
    });
  }

  /**
   * Resolves when the server accepted the message; a 5xx reply is permanent, anything else
   * transient. A send still unanswered after `sendTimeoutMs` is aborted: its connection is
   * closed, so it cannot deliver the message later, outside the lease (a server that already
   * has the whole message may still deliver it: the window SMTP cannot close).
   */
  async send(email: OutgoingEmail): Promise<void> {
    try {
      await this.transport.sendMail({
        from: this.from,
        ...(this.replyTo ? { replyTo: this.replyTo } : {}),
        to: email.to,
        subject: email.subject,
        html: email.html,
        text: email.text,
        messageId: email.messageId,
        headers: { ...AUTOMATIC_EMAIL_HEADERS, 'Content-Language': email.locale },
        signal: AbortSignal.timeout(this.sendTimeoutMs),
      } as Parameters<Transporter['sendMail']>[0]); // nodemailer 10 takes `signal`; its types do not list it yet
    } catch (error) {
      const { responseCode, code } = error as { responseCode?: number; code?: string };
      // A login refused (EAUTH: 530, 534, 535) refuses us, not this message: every email would be
      // refused alike until the credentials are mended, so each waits and is retried.
      if (responseCode !== undefined && responseCode >= 500 && code !== 'EAUTH') {
        throw new AppError('SMTP_REJECTED', `SMTP server refused the message (${responseCode}): ${errorMessage(error)}`, false, {}, { cause: error });
      }
      throw new TransientError('SMTP_UNAVAILABLE', `SMTP send failed: ${errorMessage(error)}`, {}, { cause: error });
    }
  }

  close(): void {
    this.transport.close();
  }
}
