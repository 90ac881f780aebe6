// Sends email over a pooled SMTP connection. SMTP has no idempotency, so every message carries
// a deterministic Message-ID: a resend after a crash is recognisably the same email.
import nodemailer, { type Transporter } from 'nodemailer';
import { AppError, TransientError, errorMessage } from '../../libraries/errors';
import type { RenderedEmail } from './render-email';

export interface OutgoingEmail extends RenderedEmail {
  to: string;
  messageId: string;
}

export class SmtpMailer {
  private transport: Transporter;

  constructor(
    private readonly smtpUrl: string,
    private readonly from: string,
    private readonly maxConnections: number,
    /** The longest one send may take; the email relay's lease covers this much per send. */
    readonly sendTimeoutMs: number,
  ) {
    this.transport = this.createTransport();
  }

  private createTransport(): Transporter {
    const url = new URL(this.smtpUrl);
    return nodemailer.createTransport({
      pool: true,
      maxConnections: this.maxConnections,
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 587)),
      secure: url.protocol === 'smtps:',
      auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
      // A local or internal relay without TLS is fine; with STARTTLS offered, nodemailer uses it.
      ignoreTLS: url.searchParams.get('tls') === 'off',
      connectionTimeout: Math.min(5000, this.sendTimeoutMs),
      greetingTimeout: Math.min(5000, this.sendTimeoutMs),
      socketTimeout: this.sendTimeoutMs,
    });
  }

  /**
   * Resolves when the server accepted the message; a 5xx reply is permanent, anything else
   * transient. A send that takes longer than `sendTimeoutMs` fails, and the pool is replaced so
   * the stalled connection cannot deliver it later, outside the lease.
   */
  async send(email: OutgoingEmail): Promise<void> {
    const timeout = new Error(`no answer from the SMTP server within ${this.sendTimeoutMs} ms`);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeout), this.sendTimeoutMs);
    });
    const sending = this.transport.sendMail({
      from: this.from,
      to: email.to,
      subject: email.subject,
      html: email.html,
      text: email.text,
      messageId: email.messageId,
    });
    try {
      await Promise.race([sending, timedOut]);
    } catch (error) {
      if (error === timeout) {
        sending.catch(() => undefined);
        const stalled = this.transport;
        this.transport = this.createTransport();
        stalled.close();
      }
      const responseCode = (error as { responseCode?: number }).responseCode;
      if (responseCode !== undefined && responseCode >= 500) {
        throw new AppError('SMTP_REJECTED', `SMTP server refused the message (${responseCode}): ${errorMessage(error)}`, false, {}, { cause: error });
      }
      throw new TransientError('SMTP_UNAVAILABLE', `SMTP send failed: ${errorMessage(error)}`, {}, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.transport.close();
  }
}
