// Both outbox relays as one component: events to the events topic, emails over SMTP. The batch
// use case hands them what it committed, so outcomes go out within milliseconds; their polls pick
// up anything else (rows another process wrote, or left when it died).
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
import { emailRelayRound } from './email-relay';
import { createEventRelay } from './event-relay';
import { startRelayLoop } from './relay-loop';

export interface OutboxRelays {
  publishAfterCommit: PublishAfterCommit;
  /** Wakes the event relay (events were written that nobody handed over). */
  kickEvents(): void;
  stop(): Promise<void>;
}

export function startOutboxRelays(deps: {
  events: EventOutbox;
  emails: EmailOutbox;
  producer: Producer;
  codec: AvroCodec;
  eventSchemaId: number;
  eventsTopic: string;
  smtp: Config['smtp'];
  operatorUrl: string;
  metrics: Metrics;
  logger: Logger;
}): OutboxRelays {
  const { metrics, logger } = deps;
  const events = createEventRelay({
    outbox: deps.events,
    producer: deps.producer,
    codec: deps.codec,
    eventSchemaId: deps.eventSchemaId,
    topic: deps.eventsTopic,
    metrics,
    logger: logger.child({ component: 'event-relay' }),
  });
  const eventLoop = startRelayLoop('events', events.round, logger);
  const mailer = new SmtpMailer(deps.smtp.url, deps.smtp.from, deps.smtp.maxConnections);
  const emailRound = emailRelayRound({ outbox: deps.emails, mailer, metrics, renderer: new EmailRenderer(deps.operatorUrl), logger: logger.child({ component: 'email-relay' }) });
  const emailLoop = startRelayLoop('emails', emailRound, logger);
  return {
    publishAfterCommit(committed) {
      events.handOver(committed);
      eventLoop.kick();
      emailLoop.kick();
    },
    kickEvents: () => eventLoop.kick(),
    // What was handed over but not published goes back to the table at once, for any relay.
    async stop() {
      await emailLoop.stop();
      mailer.close();
      await eventLoop.stop();
      await events.releaseHandedOver();
    },
  };
}
