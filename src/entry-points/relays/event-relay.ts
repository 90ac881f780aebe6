// Publishes the event outbox to the events topic, keeping each request's events in the order
// they happened, whatever fails:
// - a round publishes its events in seq order, in sends no larger than the topic accepts;
// - when a send fails for a reason of the broker's (it is away), nothing after it in the round
//   goes out: every event not yet published, and every event still handed over, goes back to
//   the table's queue, which hands out a request's events one at a time, oldest first;
// - when the broker refuses a send for what it holds (too large, say), the send is halved until
//   the event at fault stands alone. That event counts a failed attempt and, after
//   EVENT_PUBLISH_MAX_ATTEMPTS, is parked with the reason. Later events of its request wait
//   behind it; other requests' events go on.
// While a send is in flight its events' lease is renewed, so no other relay takes them over.
// What an event carries of people is decided here, as it is encoded (EVENT_PERSONAL_DATA): the
// outbox keeps the whole event.
import { isRecordRefusal, type Producer } from '../../adapters/kafka/kafka-client';
import type { AvroCodec } from '../../adapters/schema-registry/avro-codec';
import type { EventOutbox } from '../../data-access/event-outbox';
import type { ApprovalEvent } from '../../domain/approval';
import { classify, errorMessage, reportDefect } from '../../libraries/errors';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { eventWithIdsOnly } from './event-personal-data';

/** The table's queue is read at least this often, and more often only when it is known to hold work. */
const TABLE_READ_INTERVAL_MS = 500;

/**
 * Events handed over and not yet published past which a batch waits for the relay before it
 * starts (EventRelay.room): a backlog would otherwise pile up in memory while the relay, on the
 * same event loop, gets a share of it too small to keep up.
 */
export const HANDED_OVER_LIMIT = 2000;

/** How many of an event's own failed attempts park it. */
export const EVENT_PUBLISH_MAX_ATTEMPTS = 5;

export interface EventRelay {
  /** Events this process committed and holds the lease on, in commit order. */
  handOver(events: ApprovalEvent[]): void;
  /** Resolves once fewer than HANDED_OVER_LIMIT handed-over events wait (at once when they do). */
  room(): Promise<void>;
  /** Events were queued in the table that this relay may be able to claim now: read it next round. */
  queueHasWork(): void;
  round(): Promise<number>;
  /** At shutdown: gives the leases of events not yet published back, so any relay takes them at once. */
  releaseHandedOver(): Promise<void>;
}

interface Outgoing {
  event: ApprovalEvent;
  message: { key: string; value: Buffer; headers: Record<string, string> };
  bytes: number;
}

/**
 * An upper bound of a record's size in a Kafka record batch (v2): its varint lengths, attributes,
 * deltas, key, value and headers. A batch adds a 61-byte header.
 */
export function recordBytes(message: Outgoing['message']): number {
  const headers = Object.entries(message.headers).reduce((sum, [k, v]) => sum + 10 + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  return 30 + Buffer.byteLength(message.key) + message.value.length + headers;
}
const BATCH_HEADER_BYTES = 61;

/** Consecutive runs of `items` whose sizes add up to at most `limit` (an item over it stands alone). */
export function chunkByBytes<T extends { bytes: number }>(items: T[], limit: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = BATCH_HEADER_BYTES;
  for (const item of items) {
    if (current.length > 0 && size + item.bytes > limit) {
      chunks.push(current);
      current = [];
      size = BATCH_HEADER_BYTES;
    }
    current.push(item);
    size += item.bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export function createEventRelay(deps: {
  outbox: EventOutbox;
  producer: Producer;
  codec: AvroCodec;
  eventSchemaId: number;
  topic: string;
  /** `ids`: people go out by id only (event-personal-data.ts); `full`: as stored. */
  personalData: 'full' | 'ids';
  /** The largest record batch the topic accepts (its max.message.bytes). */
  maxBatchBytes: number;
  logger: Logger;
  metrics: Metrics;
  batchSize?: number;
}): EventRelay {
  const { outbox, producer, codec, eventSchemaId, topic, maxBatchBytes, logger, metrics, batchSize = 500 } = deps;
  const published = deps.personalData === 'ids' ? eventWithIdsOnly(codec.reader('approval-event')) : (event: ApprovalEvent) => event;
  const handedOver: Array<{ event: ApprovalEvent; at: number }> = [];
  const waitingForRoom: Array<() => void> = [];
  /** Takes handed-over events off the queue, and lets batches waiting for room go once there is. */
  const takeHandedOver = (count?: number): Array<{ event: ApprovalEvent; at: number }> => {
    const taken = count === undefined ? handedOver.splice(0) : handedOver.splice(0, count);
    if (handedOver.length < HANDED_OVER_LIMIT) waitingForRoom.splice(0).forEach((go) => go());
    return taken;
  };
  let tableReadAt = 0;
  // The queue may hold events claimable now: at start (a process that died left some), when
  // told so, and after a read that filled its batch.
  let queueHasWork = true;

  /** One round's events: what is still open (claimed, not yet published, failed or released). */
  async function publishInOrder(events: ApprovalEvent[], open: Set<string>): Promise<void> {
    const held = new Set<string>(); // requests with an event that failed in this round
    const failed = async (event: ApprovalEvent, error: unknown): Promise<void> => {
      held.add(event.requestId);
      open.delete(event.eventId);
      const { attempts, parked } = await outbox.recordFailure(event.eventId, errorMessage(error), EVENT_PUBLISH_MAX_ATTEMPTS);
      const fields = { eventId: event.eventId, requestId: event.requestId, type: event.type, attempts, err: error };
      if (parked) {
        metrics.eventsParked.inc();
        logger.error(fields, 'event parked: it cannot be published; later events of its request wait behind it');
      } else {
        logger.warn(fields, 'event could not be published; it will be tried again');
      }
    };
    /** Events of a request that failed earlier in the round go back to the queue, behind it. */
    const withoutHeld = async <T extends { event: ApprovalEvent }>(items: T[]): Promise<T[]> => {
      const back = items.filter((o) => held.has(o.event.requestId)).map((o) => o.event.eventId);
      if (back.length > 0) {
        await outbox.release(back, 'held behind an earlier event of its request that failed');
        back.forEach((id) => open.delete(id));
      }
      return items.filter((o) => !held.has(o.event.requestId));
    };
    const send = async (items: Outgoing[]): Promise<void> => {
      const sendable = await withoutHeld(items);
      if (sendable.length === 0) return;
      const ids = sendable.map((o) => o.event.eventId);
      const renewal = setInterval(() => void outbox.renew(ids).catch(() => undefined), outbox.leaseMs / 3);
      const refusal = await producer.send({ topic, acks: -1, messages: sendable.map((o) => o.message) }).then(
        () => undefined,
        (error: unknown) => error,
      );
      clearInterval(renewal);
      if (refusal !== undefined) {
        // Anything but a refusal of the records themselves (the broker away, slow, or refusing
        // us): the caller gives back what is open, in order, and backs off. No event is blamed.
        if (!isRecordRefusal(refusal)) throw classify(refusal);
        if (sendable.length === 1) return failed(sendable[0]!.event, refusal);
        const half = Math.ceil(sendable.length / 2);
        await send(sendable.slice(0, half));
        return send(sendable.slice(half));
      }
      // A crash here republishes these events with the same eventId: consumers dedupe on it.
      await outbox.markPublished(ids);
      ids.forEach((id) => open.delete(id));
      metrics.eventsPublished.inc(ids.length);
      for (const o of sendable) logger.debug({ eventId: o.event.eventId, requestId: o.event.requestId, type: o.event.type }, 'event published');
    };

    const outgoing: Outgoing[] = [];
    const heldBack: Array<{ event: ApprovalEvent }> = [];
    for (const event of events) {
      if (held.has(event.requestId)) {
        heldBack.push({ event });
        continue;
      }
      try {
        const message = { key: event.requestId, value: await codec.encode(eventSchemaId, published(event)), headers: { eventId: event.eventId, eventType: event.type } };
        const bytes = recordBytes(message);
        if (bytes + BATCH_HEADER_BYTES > maxBatchBytes) {
          await failed(event, new Error(`the event is ${bytes} bytes, over the ${maxBatchBytes} bytes the topic accepts`));
          continue;
        }
        outgoing.push({ event, message, bytes });
      } catch (error) {
        const failure = classify(error, { eventId: event.eventId, requestId: event.requestId });
        if (failure.retriable) throw failure; // the registry is away
        if (failure.code === 'WORKER_DEFECT') reportDefect(failure, 'events', logger, metrics);
        await failed(event, failure); // it does not fit the schema (UNENCODABLE), or a defect of ours
      }
    }
    await withoutHeld([...heldBack, ...outgoing.filter((o) => held.has(o.event.requestId))]);
    for (const chunk of chunkByBytes(outgoing, maxBatchBytes)) await send(chunk);
  }

  /**
   * Publishes events this relay holds, in order. On a failure, what is still open and every
   * event still handed over go back to the table's queue, which keeps per-request order: a later
   * event must not go out from memory ahead of them.
   */
  async function publishOrRelease(events: ApprovalEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const open = new Set(events.map((e) => e.eventId));
    try {
      await publishInOrder(events, open);
    } catch (error) {
      await outbox.release([...open, ...takeHandedOver().map((h) => h.event.eventId)], errorMessage(error));
      queueHasWork = true;
      throw error;
    }
    return events.length;
  }

  return {
    handOver(events) {
      const at = Date.now();
      for (const event of events) handedOver.push({ event, at });
    },
    room() {
      return handedOver.length < HANDED_OVER_LIMIT ? Promise.resolve() : new Promise((go) => waitingForRoom.push(go));
    },
    queueHasWork() {
      queueHasWork = true;
    },
    async round() {
      // Past half its lease a handed-over event goes back to the table queue: another relay may claim it soon.
      const taken = takeHandedOver(batchSize);
      const staleBefore = Date.now() - outbox.leaseMs / 2;
      const stale = taken.filter((h) => h.at <= staleBefore).map((h) => h.event.eventId);
      if (stale.length > 0) {
        await outbox.release(stale, 'handed over too long ago');
        queueHasWork = true;
      }
      const fresh = taken.filter((h) => h.at > staleBefore).map((h) => h.event);
      let handled = await publishOrRelease(fresh);
      // The table's queue (events that waited behind older ones, given back, or left by a worker
      // that died) is read when it is known to hold work and otherwise once per interval, so it
      // never starves. Reading it is not free (its index holds every event published since the
      // last vacuum), so it is not read after every round. It is read after the handed-over
      // events are published: an event queued behind one of them can go out in the same round.
      if (queueHasWork || Date.now() - tableReadAt >= TABLE_READ_INTERVAL_MS) {
        tableReadAt = Date.now();
        const queued = await outbox.claim(batchSize);
        queueHasWork = queued.length === batchSize;
        handled += await publishOrRelease(queued);
      }
      return handled;
    },
    async releaseHandedOver() {
      await outbox.release(
        takeHandedOver().map((h) => h.event.eventId),
        'released unpublished at shutdown',
      );
    },
  };
}
