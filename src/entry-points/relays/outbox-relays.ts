// The outbox relays as one component: events to the events topic, emails over SMTP. The batch
// use case hands over the events its transaction committed (and claimed for this process), so a
// decision's outcome is on the topic within milliseconds; each relay's poll also claims unsent rows
// from its table: anything written by a process that died, or an event that had to wait behind an
// older one of its request.
import { EmailRenderer } from '../../adapters/email/render-email';
import { SmtpMailer } from '../../adapters/email/smtp-mailer';
import type { Producer } from '../../adapters/kafka/kafka-client';
import type { AvroCodec } from '../../adapters/schema-registry/avro-codec';
import type { EmailOutbox } from '../../data-access/email-outbox';
import type { EventOutbox } from '../../data-access/event-outbox';
import type { ApprovalEvent } from '../../domain/approval';
import type { PublishAfterCommit } from '../../domain/ports';
import { errorMessage } from '../../libraries/errors';
import type { Config } from '../../libraries/config';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { emailRelayRound } from './email-relay';
import { startRelayLoop } from './relay-loop';

export interface OutboxRelays {
  publishAfterCommit: PublishAfterCommit;
  /** Wakes the event relay (events were written that nobody handed over). */
  kickEvents(): void;
  stop(): Promise<void>;
}

export function startOutboxRelays(deps: {
  config: Pick<Config, 'smtp' | 'operatorUrl' | 'topics'>;
  events: EventOutbox;
  emails: EmailOutbox;
  producer: Producer;
  codec: AvroCodec;
  eventSchemaId: number;
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
    metrics,
    logger: logger.child({ component: 'event-relay' }),
  });
  const mailer = new SmtpMailer(config.smtp.url, config.smtp.from, config.smtp.maxConnections);
  const emailRound = emailRelayRound({ outbox: deps.emails, mailer, metrics, renderer: new EmailRenderer(config.operatorUrl), logger: logger.child({ component: 'email-relay' }) });
  const eventLoop = startRelayLoop('events', events.round, logger);
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

interface EventRelay {
  /** Events this process committed and holds the lease on, in commit order. */
  handOver(events: ApprovalEvent[]): void;
  round(): Promise<number>;
  /** At shutdown: gives the leases of events not yet published back, so any relay takes them at once. */
  releaseHandedOver(): Promise<void>;
}

function createEventRelay(deps: {
  outbox: EventOutbox;
  producer: Producer;
  codec: AvroCodec;
  eventSchemaId: number;
  topic: string;
  logger: Logger;
  metrics: Metrics;
  batchSize?: number;
}): EventRelay {
  const { outbox, producer, codec, eventSchemaId, topic, logger, metrics, batchSize = 500 } = deps;
  const handedOver: Array<{ event: ApprovalEvent; at: number }> = [];
  return {
    handOver(events) {
      const at = Date.now();
      for (const event of events) handedOver.push({ event, at });
    },
    async round() {
      // Past half its lease a handed-over event is left to the table queue: another relay may claim it soon.
      const fresh = handedOver.splice(0, batchSize).filter((h) => Date.now() - h.at < outbox.leaseMs / 2);
      const events = fresh.length > 0 ? fresh.map((h) => h.event) : await outbox.claim(batchSize);
      if (events.length === 0) return 0;
      const eventIds = events.map((e) => e.eventId);
      try {
        const messages = await Promise.all(
          events.map(async (e) => ({
            key: e.requestId,
            value: await codec.encode(eventSchemaId, e),
            headers: { eventId: e.eventId, eventType: e.type },
          })),
        );
        await producer.send({ topic, acks: -1, messages });
      } catch (error) {
        // These and every event still handed over go back to the table's queue, which keeps
        // per-request order: a later event must not go out from memory ahead of a released one.
        await outbox.release([...eventIds, ...handedOver.splice(0).map((h) => h.event.eventId)], errorMessage(error));
        throw error;
      }
      // A crash here republishes these events with the same eventId: consumers dedupe on it.
      await outbox.markPublished(eventIds);
      metrics.eventsPublished.inc(events.length);
      for (const e of events) logger.debug({ eventId: e.eventId, requestId: e.requestId, type: e.type }, 'event published');
      return events.length;
    },
    async releaseHandedOver() {
      const left = handedOver.splice(0).map((h) => h.event.eventId);
      if (left.length > 0) await outbox.release(left, 'released unpublished at shutdown');
    },
  };
}
