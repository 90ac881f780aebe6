// Publishes committed events from the approval_events outbox to the events topic.
import type { Producer } from '../../adapters/kafka/kafka-client';
import type { AvroCodec } from '../../adapters/schema-registry/avro-codec';
import type { OutboxStore } from '../../data-access/outbox-store';
import { describe } from '../../libraries/errors';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';

export function eventRelayRound(deps: {
  outbox: OutboxStore;
  producer: Producer;
  codec: AvroCodec;
  eventSchemaId: number;
  topic: string;
  logger: Logger;
  metrics: Metrics;
  batchSize?: number;
}): () => Promise<number> {
  const { outbox, producer, codec, eventSchemaId, topic, logger, metrics, batchSize = 500 } = deps;
  return async () => {
    const claimed = await outbox.claimEvents(batchSize, 30_000);
    if (claimed.length === 0) return 0;
    try {
      const messages = await Promise.all(
        claimed.map(async (e) => ({
          key: e.requestId,
          value: await codec.encode(eventSchemaId, e.payload),
          headers: { eventId: e.eventId, eventType: e.payload.type },
        })),
      );
      await producer.send({ topic, acks: -1, messages });
    } catch (error) {
      await outbox.releaseEvents(claimed.map((e) => e.seq), describe(error));
      throw error;
    }
    // A crash here republishes these events with the same eventId: consumers dedupe on it.
    await outbox.markPublished(claimed.map((e) => e.seq));
    metrics.eventsPublished.inc(claimed.length);
    for (const e of claimed) logger.debug({ eventId: e.eventId, requestId: e.requestId, type: e.payload.type }, 'event published');
    return claimed.length;
  };
}
