// Publishes committed events from the approval_events outbox to the events topic. Two sources:
// events the consumer's own transactions claimed at insert (handed over right after the commit,
// so a decision's outcome is on the topic within milliseconds), and unpublished rows claimed from
// the table (anything written by a process that died, or that had to wait behind an older event
// of its request).
import type { Producer } from '../../adapters/kafka/kafka-client';
import type { AvroCodec } from '../../adapters/schema-registry/avro-codec';
import type { EventOutbox } from '../../data-access/event-outbox';
import type { ApprovalEvent } from '../../domain/approval';
import { errorMessage } from '../../libraries/errors';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';

export interface EventRelay {
  /** Events this process committed and holds the lease on, in commit order. */
  handOver(events: ApprovalEvent[]): void;
  round(): Promise<number>;
  /** At shutdown: gives the leases of events not yet published back, so any relay takes them at once. */
  releaseHandedOver(): Promise<void>;
}

export function createEventRelay(deps: {
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
        // Released rows go back to the table's queue, which keeps per-request order.
        await outbox.release(eventIds, errorMessage(error));
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
