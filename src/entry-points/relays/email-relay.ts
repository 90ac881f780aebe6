// Delivers emails from the email_outbox: render, send over the pooled SMTP connections, mark
// sent. Transient failures retry with exponential backoff (never dropped); a 5xx refusal parks
// the email with the server's reason.
//
// A round keeps the connections busy: once every email it claimed is under way, it claims the
// next ones (up to MAX_CLAIMS_PER_ROUND), so no connection waits for the last sends of a claim
// and the next claim's round trip. It stops claiming after a send fails: through an outage the
// failed emails wait out their own backoff, and are not claimed again and again within one round.
// While claimMore is false a round claims once: behind a backlog of requests (the loop then rests
// after each round), and once the relay is stopping, so that a stop waits for one claim at most.
//
// Each email is sent once per claim, and only under a lease that covers the send: a send starts
// only while the lease has at least one whole send (SMTP_SEND_TIMEOUT_MS, which the mailer
// enforces) left, and the lease is renewed for the claim's unfinished emails when it has not. A
// mark (sent, retry later, parked) lands only with the claim's token. "Sent" marks are written as
// sends complete, many per statement; one that fails is kept and written before the next claim,
// so a database that blinked does not make this relay claim and resend what it already sent.
import type { EmailRenderer } from '../../adapters/email/render-email';
import type { SmtpMailer } from '../../adapters/email/smtp-mailer';
import type { ClaimedEmail, EmailOutbox } from '../../data-access/email-outbox';
import { AppError, errorMessage } from '../../libraries/errors';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';

export const emailRetryDelayMs = (attempts: number): number => Math.min(5 * 60_000, 1000 * 2 ** Math.max(0, attempts - 1));

/** What a lease must have left, beyond one send, when a send starts: the mark's round trip. */
const MARK_MARGIN_MS = 1000;

/** Claims one round makes at most: a round ends now and then, whatever the backlog. */
export const MAX_CLAIMS_PER_ROUND = 10;

export interface EmailRelay {
  round(): Promise<number>;
  /** Writes the "sent" marks not yet written (at shutdown). */
  flushMarks(): Promise<void>;
}

export function createEmailRelay(deps: {
  outbox: EmailOutbox;
  mailer: SmtpMailer;
  renderer: EmailRenderer;
  logger: Logger;
  metrics: Metrics;
  /** Sends at once (the SMTP pool's connections). */
  connections: number;
  batchSize?: number;
  /** Whether a round may claim again once what it claimed is under way (false: one claim per round). */
  claimMore?: () => boolean;
}): EmailRelay {
  const { outbox, mailer, renderer, logger, metrics, connections, batchSize = 50, claimMore = () => true } = deps;
  const marks = sentMarks(outbox, logger, metrics);
  const leaseLost = (email: ClaimedEmail, what: string): void => {
    metrics.emailLeasesLost.inc();
    logger.warn({ eventId: email.eventId, messageId: email.messageId }, `email lease lost before ${what}; its new holder decides`);
  };

  /** Sends one email and marks it; false when it failed (and was parked or set to retry). */
  async function deliver(email: ClaimedEmail, token: string): Promise<boolean> {
    const ids = { eventId: email.eventId, requestId: email.event.requestId, messageId: email.messageId };
    try {
      const rendered = renderer.render(email.template, email.event, email.recipient, { expiresAt: email.expiresAt });
      const timer = metrics.emailSeconds.startTimer();
      await mailer.send({ ...rendered, to: email.recipient.email, messageId: email.messageId });
      timer();
      metrics.emailsSent.inc();
      marks.add(email.id, token);
      return true;
    } catch (error) {
      if (error instanceof AppError && !error.retriable) {
        metrics.emailFailures.inc({ result: 'parked' });
        logger.error({ ...ids, code: error.code, err: error }, 'email parked');
        if (!(await outbox.park(email.id, token, errorMessage(error)))) leaseLost(email, 'parking');
      } else {
        metrics.emailFailures.inc({ result: 'retried' });
        const delay = emailRetryDelayMs(email.attempts);
        logger.warn({ ...ids, attempts: email.attempts, retryInMs: delay, err: error }, 'email delivery failed; will retry');
        if (!(await outbox.retryLater(email.id, token, delay, errorMessage(error)))) leaseLost(email, 'retrying');
      }
      return false;
    }
  }

  return {
    flushMarks: () => marks.flush(),
    async round() {
      const queue: Array<{ email: ClaimedEmail; token: string; lease: Lease }> = [];
      let claims = 0;
      let handled = 0;
      // Once false (a claim came back short, the round's claims are used up, a claim or a send
      // failed, or claimMore said no), the round claims no more, so a sender that finds nothing
      // to send may leave: no later claim can bring more.
      let claiming = true;
      const claim = async (): Promise<void> => {
        await marks.flush();
        const claimedAt = Date.now();
        const { token, emails } = await outbox.claim(batchSize);
        claims += 1;
        handled += emails.length;
        if (emails.length < batchSize || claims >= MAX_CLAIMS_PER_ROUND) claiming = false;
        const lease = heldLease(outbox, token, claimedAt, emails, mailer.sendTimeoutMs + MARK_MARGIN_MS);
        for (const email of emails) queue.push({ email, token, lease });
      };
      await claim();
      if (handled === 0) return 0;
      // The next claim is made while the last emails of the one before are sent.
      let next: Promise<void> | undefined;
      let claimFailure: { error: unknown } | undefined;
      const failedClaim = (error: unknown): void => {
        claiming = false;
        claimFailure = { error };
      };
      const take = async (): Promise<(typeof queue)[number] | undefined> => {
        for (;;) {
          if (claiming && !next && queue.length < connections) {
            if (!claimMore()) claiming = false;
            else next = claim().catch(failedClaim).finally(() => (next = undefined));
          }
          const item = queue.shift();
          if (item !== undefined || next === undefined) return item;
          await next;
        }
      };
      const senders = Array.from({ length: connections }, async () => {
        try {
          for (let item = await take(); item !== undefined; item = await take()) {
            try {
              if (!(await item.lease.coversSendOf(item.email))) leaseLost(item.email, 'sending');
              else if (!(await deliver(item.email, item.token))) claiming = false;
            } finally {
              item.lease.finished(item.email);
            }
          }
        } catch (error) {
          claiming = false;
          throw error;
        }
      });
      // Every sender finishes its send before the round ends, even when one failed, and so does a claim in flight.
      const failure = (await Promise.allSettled(senders)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
      while (next) await next;
      if (failure) throw failure.reason;
      if (claimFailure) throw claimFailure.error;
      return handled;
    },
  };
}

type Lease = ReturnType<typeof heldLease>;

/** A claim's lease: renewed, for its emails not yet finished, when it has less than `needMs` left. */
function heldLease(outbox: EmailOutbox, token: string, claimedAt: number, emails: ClaimedEmail[], needMs: number) {
  const unfinished = new Set(emails.map((e) => e.id));
  let held = new Set(unfinished);
  // Measured from before the claim, so it ends no later than the database's own lease.
  let endsAt = claimedAt + outbox.leaseMs;
  let renewing: Promise<void> | undefined;
  return {
    async coversSendOf(email: ClaimedEmail): Promise<boolean> {
      while (held.has(email.id) && Date.now() + needMs > endsAt) {
        renewing ??= (async () => {
          const startedAt = Date.now();
          held = new Set(await outbox.renew([...unfinished], token));
          endsAt = startedAt + outbox.leaseMs;
        })().finally(() => (renewing = undefined));
        await renewing;
      }
      return held.has(email.id);
    },
    finished(email: ClaimedEmail): void {
      unfinished.delete(email.id);
    },
  };
}

/** "Sent" marks, written as sends complete; one that fails stays queued until a write succeeds. */
function sentMarks(outbox: EmailOutbox, logger: Logger, metrics: Metrics) {
  const pending = new Map<string, string>(); // email id -> lease token
  let writing: Promise<void> | undefined;
  const write = (): Promise<void> =>
    (writing ??= (async () => {
      while (pending.size > 0) {
        const batch = [...pending].map(([id, token]) => ({ id, token }));
        pending.clear();
        try {
          const landed = await outbox.markSent(batch);
          if (landed < batch.length) {
            metrics.emailLeasesLost.inc(batch.length - landed);
            logger.warn({ emails: batch.length - landed }, 'sent emails whose lease was lost before the mark; their new holder may send them again');
          }
        } catch (error) {
          for (const m of batch) if (!pending.has(m.id)) pending.set(m.id, m.token);
          throw error;
        }
      }
    })().finally(() => (writing = undefined)));
  return {
    add(id: string, token: string): void {
      pending.set(id, token);
      write().catch((error: unknown) => logger.warn({ emails: pending.size, err: error }, 'marking emails sent failed; the marks are kept and written again'));
    },
    async flush(): Promise<void> {
      await writing?.catch(() => undefined);
      if (pending.size > 0) await write();
    },
  };
}
