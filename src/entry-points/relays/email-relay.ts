// Delivers emails from the email_outbox: render, send over the pooled SMTP connection, mark
// sent. Transient failures retry with exponential backoff (never dropped); a 5xx refusal parks
// the email with the server's reason.
import type { EmailRenderer } from '../../adapters/email/render-email';
import type { SmtpMailer } from '../../adapters/email/smtp-mailer';
import type { EmailOutbox } from '../../data-access/email-outbox';
import { AppError, errorMessage } from '../../libraries/errors';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { coalescing } from '../../libraries/coalescing';

export const emailRetryDelayMs = (attempts: number): number => Math.min(5 * 60_000, 1000 * 2 ** Math.max(0, attempts - 1));

export function emailRelayRound(deps: {
  outbox: EmailOutbox;
  mailer: SmtpMailer;
  renderer: EmailRenderer;
  logger: Logger;
  metrics: Metrics;
  batchSize?: number;
}): () => Promise<number> {
  const { outbox, mailer, renderer, logger, metrics, batchSize = 50 } = deps;
  // Marks go to the database as sends complete, many per statement: the window in which a crash
  // resends an email (with the same Message-ID) stays about one send long, without one commit
  // per email.
  const markSent = coalescing<string>((ids) =>
    outbox.markSent(ids).catch((error: unknown) => logger.warn({ emails: ids.length, err: error }, 'marking emails sent failed; they will be resent after their lease')),
  );
  return async () => {
    const claimed = await outbox.claim(batchSize);
    if (claimed.length === 0) return 0;
    await Promise.all(
      claimed.map(async (email) => {
        const ids = { eventId: email.eventId, requestId: email.event.requestId, messageId: email.messageId };
        try {
          const rendered = renderer.render(email.template, email.event, email.recipient);
          const timer = metrics.emailSeconds.startTimer();
          await mailer.send({ ...rendered, to: email.recipient.email, messageId: email.messageId });
          timer();
          metrics.emailsSent.inc();
          await markSent(email.id, email.id);
        } catch (error) {
          if (error instanceof AppError && !error.retriable) {
            metrics.emailFailures.inc({ result: 'parked' });
            logger.error({ ...ids, code: error.code, err: error }, 'email parked');
            await outbox.park(email.id, errorMessage(error));
          } else {
            metrics.emailFailures.inc({ result: 'retried' });
            const delay = emailRetryDelayMs(email.attempts);
            logger.warn({ ...ids, attempts: email.attempts, retryInMs: delay, err: error }, 'email delivery failed; will retry');
            await outbox.retryLater(email.id, delay, errorMessage(error));
          }
        }
      }),
    );
    return claimed.length;
  };
}
