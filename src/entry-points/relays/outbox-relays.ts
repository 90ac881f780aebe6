// The outbox relays as one component: events to the events topic, emails over SMTP. The batch
// use case hands over the events its transaction committed (and claimed for this process), so a
// decision's outcome is on the topic within milliseconds; each relay's poll also claims unsent rows
// from its table: anything written by a process that died, or an event that had to wait behind an
// older one of its request.
import { decisionLinksFor } from '../../adapters/email/decision-links';
import { EmailRenderer } from '../../adapters/email/render-email';
import { SmtpMailer } from '../../adapters/email/smtp-mailer';
import type { Producer } from '../../adapters/kafka/kafka-client';
import type { AvroCodec } from '../../adapters/schema-registry/avro-codec';
import type { EmailOutbox } from '../../data-access/email-outbox';
import type { EventOutbox } from '../../data-access/event-outbox';
import type { PublishAfterCommit } from '../../domain/ports';
import type { Config } from '../../libraries/config';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { createEmailRelay } from './email-relay';
import { createEventRelay } from './event-relay';
import { startRelayLoop } from './relay-loop';

export interface OutboxRelays {
  publishAfterCommit: PublishAfterCommit;
  /** Wakes the event relay (events were written that nobody handed over). */
  kickEvents(): void;
  stop(): Promise<void>;
}

export function startOutboxRelays(deps: {
  config: Pick<Config, 'smtp' | 'operatorUrl' | 'emailLanguage' | 'emailLinks' | 'topics' | 'eventPersonalData'>;
  events: EventOutbox;
  emails: EmailOutbox;
  producer: Producer;
  codec: AvroCodec;
  eventSchemaId: number;
  /** The largest send the events topic accepts. */
  eventsMaxBatchBytes: number;
  metrics: Metrics;
  logger: Logger;
}): OutboxRelays {
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
  const mailer = new SmtpMailer(config.smtp.url, config.smtp.from, config.smtp.maxConnections, config.smtp.sendTimeoutMs, config.smtp.replyTo);
  const emails = createEmailRelay({
    outbox: deps.emails,
    mailer,
    metrics,
    connections: config.smtp.maxConnections,
    renderer: new EmailRenderer({ operatorUrl: config.operatorUrl, ...config.emailLanguage, links: decisionLinksFor(config) }),
    logger: logger.child({ component: 'email-relay' }),
  });
  const eventLoop = startRelayLoop('events', events.round, logger);
  const emailLoop = startRelayLoop('emails', emails.round, logger);
  return {
    publishAfterCommit(committed, leftQueued) {
      events.handOver(committed);
      if (leftQueued) events.queueHasWork();
      eventLoop.kick();
      emailLoop.kick();
    },
    kickEvents: () => {
      events.queueHasWork();
      eventLoop.kick();
    },
    // What was handed over but not published goes back to the table at once, for any relay.
    async stop() {
      await emailLoop.stop();
      await emails.flushMarks().catch((error: unknown) => logger.warn({ err: error }, 'the last "sent" marks were not written; those emails may be sent again'));
      mailer.close();
      await eventLoop.stop();
      await events.releaseHandedOver();
    },
  };
}
