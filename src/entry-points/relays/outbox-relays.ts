// The outbox relays, each a component of its own: events to the events topic, emails over SMTP.
// The batch use case hands over the events its transaction committed (and claimed for this
// process), so a decision's outcome is on the topic within milliseconds; each relay's poll also
// claims unsent rows from its table: anything written by a process that died, an event that had to
// wait behind an older one of its request, or (ROLE=relays) the emails another process's consumer
// wrote. Both claim under leases, so any number of processes may run either.
import { decisionLinksFor } from '../../adapters/email/decision-links';
import { EmailRenderer } from '../../adapters/email/render-email';
import { SmtpMailer } from '../../adapters/email/smtp-mailer';
import type { Producer } from '../../adapters/kafka/kafka-client';
import type { AvroCodec } from '../../adapters/schema-registry/avro-codec';
import type { EmailOutbox } from '../../data-access/email-outbox';
import type { EventOutbox } from '../../data-access/event-outbox';
import type { ApprovalEvent } from '../../domain/approval';
import type { Config } from '../../libraries/config';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { createEmailRelay } from './email-relay';
import { createEventRelay } from './event-relay';
import { startRelayLoop } from './relay-loop';

export interface EventRelayLoop {
  /** Events this process's batch committed and claimed: published at once. */
  handOver(committed: ApprovalEvent[], leftQueued: boolean): void;
  /** Resolves once the relay has room for another batch's events (see HANDED_OVER_LIMIT). */
  room(): Promise<void>;
  /** Wakes the event relay (events were written that nobody handed over). */
  kickEvents(): void;
  stop(): Promise<void>;
}

export function startEventRelayLoop(deps: {
  config: Pick<Config, 'topics' | 'eventPersonalData'>;
  events: EventOutbox;
  producer: Producer;
  codec: AvroCodec;
  eventSchemaId: number;
  /** The largest send the events topic accepts. */
  eventsMaxBatchBytes: number;
  metrics: Metrics;
  logger: Logger;
}): EventRelayLoop {
  const { config, metrics, logger } = deps;
  const events = createEventRelay({
    outbox: deps.events,
    producer: deps.producer,
    codec: deps.codec,
    eventSchemaId: deps.eventSchemaId,
    topic: config.topics.events,
    personalData: config.eventPersonalData,
    maxBatchBytes: deps.eventsMaxBatchBytes,
    metrics,
    logger: logger.child({ component: 'event-relay' }),
  });
  const loop = startRelayLoop('events', events.round, logger);
  return {
    handOver(committed, leftQueued) {
      events.handOver(committed);
      if (leftQueued) events.queueHasWork();
      loop.kick();
    },
    room: () => events.room(),
    kickEvents: () => {
      events.queueHasWork();
      loop.kick();
    },
    // What was handed over but not published goes back to the table at once, for any relay.
    async stop() {
      await loop.stop();
      await events.releaseHandedOver();
    },
  };
}

export interface EmailRelayLoop {
  /** Emails were committed in this process: send them now rather than at the next poll. */
  kick(): void;
  stop(): Promise<void>;
}

export function startEmailRelayLoop(deps: {
  config: Pick<Config, 'smtp' | 'operatorUrl' | 'emailLanguage' | 'emailLinks'>;
  emails: EmailOutbox;
  metrics: Metrics;
  logger: Logger;
  /** How long to rest after a round that sent emails (see startRelayLoop). */
  restMs?: () => number;
}): EmailRelayLoop {
  const { config, metrics, logger } = deps;
  let stopping = false;
  const mailer = new SmtpMailer(config.smtp.url, config.smtp.from, config.smtp.maxConnections, config.smtp.sendTimeoutMs, config.smtp.replyTo);
  const renderer = new EmailRenderer({ operatorUrl: config.operatorUrl, ...config.emailLanguage, links: decisionLinksFor(config) });
  renderer.warmUp();
  const emails = createEmailRelay({
    outbox: deps.emails,
    mailer,
    metrics,
    connections: config.smtp.maxConnections,
    // Behind a backlog (a rest is due after each round), and once stopping, one claim per round.
    claimMore: () => !stopping && (deps.restMs?.() ?? 0) === 0,
    renderer,
    logger: logger.child({ component: 'email-relay' }),
  });
  const loop = startRelayLoop('emails', emails.round, logger, { restMs: deps.restMs });
  return {
    kick: () => loop.kick(),
    async stop() {
      stopping = true;
      await loop.stop();
      await emails.flushMarks().catch((error: unknown) => logger.warn({ err: error }, 'the last "sent" marks were not written; those emails may be sent again'));
      mailer.close();
    },
  };
}
