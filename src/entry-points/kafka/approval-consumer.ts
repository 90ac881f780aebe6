// The Kafka entry point. Per batch of one partition: decode and admit every message, send the
// ones that can never succeed to the dead-letter topic, hand the rest to the batch use case (one
// database transaction), and only then commit the offset. Failures while applying are retried
// here with backoff while heartbeating, so an outage neither loses nor dead-letters anything and
// does not trigger a rebalance.
import type { EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Producer } from '../../adapters/kafka/kafka-client';
import type { AvroCodec } from '../../adapters/schema-registry/avro-codec';
import type { ApprovalDecision, CardOperationRequest, Operation } from '../../domain/card-operation';
import type { InboundMessage } from '../../domain/decide-batch';
import type { HandleCardOperationBatch, HandledBatch } from '../../domain/handle-card-operation-batch';
import { admitDecision, admitRequest, type Admission, type AdmissionRules } from '../../domain/validate-message';
import type { Config, TopicNames } from '../../libraries/config';
import { PermanentMessageError, classify, errorMessage, type AppError, type DeadLetterReason, type MessageContext } from '../../libraries/errors';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { coalescing } from '../../libraries/coalescing';
import { backoffMs } from '../../libraries/retry';

export interface DeadLetter {
  message: KafkaMessage;
  reason: DeadLetterReason;
  detail: string;
  context: MessageContext;
}

export interface ConsumerDeps {
  kafka: Kafka;
  settings: Pick<Config['kafka'], 'groupId' | 'sessionTimeoutMs' | 'partitionsConcurrently'>;
  topics: TopicNames;
  rules: AdmissionRules;
  producer: Producer;
  codec: AvroCodec;
  handleBatch: HandleCardOperationBatch;
  /** Whether the database answers at all: tells an outage from a message it refuses. */
  databaseAnswers: () => Promise<boolean>;
  metrics: Metrics;
  logger: Logger;
}

export interface ApprovalConsumer {
  /** Drains the batch in hand, commits and leaves the group. */
  stop(): Promise<void>;
  isInGroup(): boolean;
  /** Resolves if the consumer crashed for good; the process should then exit rather than live on as a zombie. */
  crashed: Promise<Error>;
}

const MAX_TRANSACTION_MESSAGES = 500;
/**
 * A batch whose apply keeps failing with a retriable error while the database answers a ping is
 * suspected of holding a message at fault after this many attempts (about 50 s of backoff); each
 * part of a split batch after this many.
 */
const BATCH_RETRIES = 10;
const SUSPECT_RETRIES = 2;

/** A decoded message admitted to a batch. */
interface Admitted {
  message: KafkaMessage;
  inbound: InboundMessage;
  context: MessageContext;
}

function deadLetterHeaders(d: DeadLetter, topic: string, partition: number): Record<string, string> {
  return {
    'dlq.reason': d.reason,
    'dlq.detail': d.detail.slice(0, 2000),
    'dlq.source.topic': topic,
    'dlq.source.partition': String(partition),
    'dlq.source.offset': d.message.offset,
    'dlq.time': new Date().toISOString(),
  };
}

export async function startApprovalConsumer(deps: ConsumerDeps): Promise<ApprovalConsumer> {
  const { kafka, settings, topics, rules, producer, codec, handleBatch, databaseAnswers, metrics } = deps;
  const logger = deps.logger.child({ component: 'consumer' });
  const operationByTopic = new Map<string, Operation>(Object.entries(topics.requests).map(([op, topic]) => [topic, op as Operation]));

  const consumer = kafka.consumer({
    groupId: settings.groupId,
    sessionTimeout: settings.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(settings.sessionTimeoutMs / 10)),
    allowAutoTopicCreation: false,
    // Bounded fetches keep memory flat with many partitions in flight (a transaction takes at
    // most 500 messages anyway); kafkajs's defaults would buffer up to 10 MB per fetch.
    maxBytesPerPartition: 256 * 1024,
    maxBytes: 2 * 1024 * 1024,
    // A stop waits for the fetch in flight; an idle fetch then holds it 1 s rather than 5 s.
    maxWaitTimeInMs: 1000,
  });
  // Joins are logged so operators (and the fault tests) can tell a rebalance storm from a quiet group.
  let inGroup = false;
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    inGroup = true;
    logger.info({ memberId: payload.memberId, assignment: payload.memberAssignment }, 'consumer joined group');
  });
  for (const leave of [consumer.events.REBALANCING, consumer.events.STOP, consumer.events.CRASH]) consumer.on(leave, () => (inGroup = false));
  const crashed = new Promise<Error>((resolve) => {
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) resolve(payload.error);
    });
  });

  /** Decodes and admits one message; permanent problems become dead letters. */
  async function admit(topic: string, message: KafkaMessage): Promise<Admitted | DeadLetter> {
    try {
      const operation = operationByTopic.get(topic);
      let admission: Admission;
      let context: MessageContext;
      if (operation) {
        const request = await codec.decode<CardOperationRequest>(message.value, 'card-operation-request');
        admission = admitRequest(request, operation, rules);
        context = { requestId: request.requestId };
      } else {
        const decision = await codec.decode<ApprovalDecision>(message.value, 'approval-decision');
        admission = admitDecision(decision);
        context = { decisionId: decision.decisionId };
      }
      if ('rejected' in admission) return { message, ...admission.rejected, context };
      return { message, inbound: admission.admitted, context };
    } catch (error) {
      if (error instanceof PermanentMessageError) return { message, reason: error.reason, detail: error.message, context: error.context };
      throw error;
    }
  }

  // Offsets are committed in the background, one request at a time carrying the newest offset of
  // each partition. A failed commit (a rebalance took the partition) is not retried: the next
  // batch's commit carries a later offset, and redelivered messages change nothing.
  const commitOffset = coalescing<{ topic: string; partition: number; offset: string }>((offsets) =>
    consumer.commitOffsets(offsets).catch((error: unknown) => logger.warn({ err: errorMessage(error), offsets }, 'offset commit failed')),
  );

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    const log = logger.child({ topic, partition });
    const alive = (): boolean => isRunning() && !isStale();
    /** Waits `ms` while heartbeating; false when this partition was lost meanwhile. */
    const pause = async (ms: number): Promise<boolean> => {
      const until = Date.now() + ms;
      while (Date.now() < until && alive()) {
        await heartbeat().catch(() => undefined);
        await new Promise((r) => setTimeout(r, Math.min(500, until - Date.now())));
      }
      return alive();
    };

    /** Retries a dependency's failures with backoff until they pass; undefined: the partition was lost. */
    async function untilDone<T>(what: string, work: () => Promise<T>): Promise<T | undefined> {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await work();
        } catch (error) {
          const failure = classify(error, { topic, partition });
          if (!alive()) return undefined;
          log.warn({ what, attempt, code: failure.code, err: failure }, `${what} failed; retrying`);
          if (!(await pause(backoffMs(attempt)))) return undefined;
        }
      }
    }

    /**
     * Applies messages in one transaction. A failure the database pins on the data (a permanent
     * error), or a retriable one that persists while the database answers other work, splits the
     * messages in halves, in order, until the message at fault stands alone: it is dead-lettered
     * (REJECTED_BY_STORE) and the rest are applied. While the database does not answer, nothing is
     * split or dead-lettered: it is an outage, and the batch waits for it. False: the partition
     * was lost meanwhile.
     */
    async function applyIsolating(items: Admitted[], applied: HandledBatch[], refused: DeadLetter[], suspect = false): Promise<boolean> {
      for (let attempt = 1; ; attempt += 1) {
        let failure: AppError;
        try {
          applied.push(await handleBatch(items.map((i) => i.inbound)));
          return true;
        } catch (error) {
          failure = classify(error, { topic, partition, ...items[0]?.context });
        }
        if (!alive()) return false;
        const pinnedOnData = !failure.retriable || (attempt >= (suspect ? SUSPECT_RETRIES : BATCH_RETRIES) && (await databaseAnswers()));
        if (pinnedOnData) {
          if (items.length === 1) {
            refused.push({ ...items[0]!, reason: 'REJECTED_BY_STORE', detail: failure.message });
            return true;
          }
          log.warn({ messages: items.length, code: failure.code, err: failure }, 'apply failed on the data; splitting the batch to find the message at fault');
          const half = Math.ceil(items.length / 2);
          return (await applyIsolating(items.slice(0, half), applied, refused, true)) && (await applyIsolating(items.slice(half), applied, refused, true));
        }
        log.warn({ attempt, messages: items.length, code: failure.code, err: failure }, 'apply failed; retrying');
        if (!(await pause(backoffMs(attempt)))) return false;
      }
    }

    for (let start = 0; start < batch.messages.length && alive(); start += MAX_TRANSACTION_MESSAGES) {
      const chunk = batch.messages.slice(start, start + MAX_TRANSACTION_MESSAGES);
      const timer = metrics.batchSeconds.startTimer();
      const classified = await untilDone('decode', () => Promise.all(chunk.map((m) => admit(topic, m))));
      if (!classified) return;
      const valid = classified.filter((c): c is Admitted => 'inbound' in c);
      const dead = classified.filter((c): c is DeadLetter => !('inbound' in c));

      if (valid.length > 0) {
        const applied: HandledBatch[] = [];
        // A slow database must not cost us the partition: keep heartbeating while the transaction runs.
        const beat = setInterval(() => void heartbeat().catch(() => undefined), 1000);
        const done = await applyIsolating(valid, applied, dead).finally(() => clearInterval(beat));
        if (!done) return;
        const byInbound = new Map(valid.map((v) => [v.inbound, v]));
        for (const { message, detail } of applied.flatMap((h) => h.conflicts)) dead.push({ ...byInbound.get(message)!, reason: 'CONFLICTING_DUPLICATE', detail });
        const duplicates = applied.reduce((n, h) => n + h.duplicates, 0);
        const refusedHere = dead.filter((d) => d.reason === 'REJECTED_BY_STORE' || d.reason === 'CONFLICTING_DUPLICATE').length;
        metrics.messagesConsumed.inc({ topic, outcome: 'applied' }, valid.length - duplicates - refusedHere);
        if (duplicates) metrics.messagesConsumed.inc({ topic, outcome: 'duplicate' }, duplicates);
        for (const t of applied.flatMap((h) => h.transitions)) {
          metrics.transitions.inc({ type: t.event.type });
          if (t.event.refusalCode) metrics.refusals.inc({ code: t.event.refusalCode });
          log.info(
            { requestId: t.event.requestId, eventId: t.event.eventId, decisionId: t.event.decision?.decisionId, type: t.event.type, refusalCode: t.event.refusalCode },
            `approval ${t.event.type.toLowerCase()}`,
          );
        }
      }
      if (dead.length > 0) {
        const sent = await untilDone('dead-letter', () =>
          producer.send({
            topic: topics.deadLetter,
            acks: -1,
            messages: dead.map((d) => ({ key: d.message.key, value: d.message.value, headers: deadLetterHeaders(d, topic, partition) })),
          }),
        );
        if (!sent) return;
        metrics.messagesConsumed.inc({ topic, outcome: 'dead_lettered' }, dead.length);
        for (const d of dead) metrics.deadLetters.inc({ reason: d.reason });
        for (const d of dead) log.warn({ ...d.context, offset: d.message.offset, reason: d.reason, detail: d.detail }, 'message dead-lettered');
      }

      // Commit only what the database (and the dead-letter topic) now hold. The commit is not
      // awaited: the next fetch need not wait for it, and a commit lost to a crash or a
      // rebalance only redelivers messages whose effects are already stored (and deduplicated).
      const last = chunk[chunk.length - 1]!;
      payload.resolveOffset(last.offset);
      const committed = commitOffset(`${topic}:${partition}`, { topic, partition, offset: (BigInt(last.offset) + 1n).toString() });
      if (!isRunning()) await committed; // stopping: flush before the group is left
      timer();
      await heartbeat().catch(() => undefined);
    }
  }

  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...operationByTopic.keys(), topics.decisions], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Partitions wait mostly on the database, so several run at once (per-request locks keep order).
      partitionsConsumedConcurrently: settings.partitionsConcurrently,
      eachBatch,
    });
  } catch (error) {
    await consumer.disconnect().catch(() => undefined);
    throw error;
  }
  return { stop: () => consumer.disconnect(), isInGroup: () => inGroup, crashed };
}
