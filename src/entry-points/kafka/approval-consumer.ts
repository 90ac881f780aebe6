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
import type { HandleCardOperationBatch } from '../../domain/handle-card-operation-batch';
import { admitDecision, admitRequest, type Admission, type AdmissionRules } from '../../domain/validate-message';
import type { Config, TopicNames } from '../../libraries/config';
import { PermanentMessageError, TransientError, errorMessage, type DeadLetterReason, type MessageContext } from '../../libraries/errors';
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
  const { kafka, settings, topics, rules, producer, codec, handleBatch, metrics } = deps;
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
  async function classify(topic: string, message: KafkaMessage): Promise<InboundMessage | DeadLetter> {
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
      return admission.admitted;
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

    /** Retries failures with backoff until they pass; undefined means this partition was lost meanwhile. */
    async function untilDone<T>(what: string, work: () => Promise<T>): Promise<T | undefined> {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await work();
        } catch (error) {
          if (!alive()) return undefined;
          const delay = backoffMs(attempt);
          log.warn({ what, attempt, retryInMs: delay, err: errorMessage(error), transient: error instanceof TransientError }, `${what} failed; retrying`);
          const until = Date.now() + delay;
          while (Date.now() < until && alive()) {
            await heartbeat().catch(() => undefined);
            await new Promise((r) => setTimeout(r, Math.min(500, until - Date.now())));
          }
          if (!alive()) return undefined;
        }
      }
    }

    for (let start = 0; start < batch.messages.length && alive(); start += MAX_TRANSACTION_MESSAGES) {
      const chunk = batch.messages.slice(start, start + MAX_TRANSACTION_MESSAGES);
      const timer = metrics.batchSeconds.startTimer();
      const classified = await untilDone('decode', () => Promise.all(chunk.map((m) => classify(topic, m))));
      if (!classified) return;
      const valid = classified.filter((c): c is InboundMessage => 'kind' in c);
      const dead = classified.filter((c): c is DeadLetter => !('kind' in c));

      if (valid.length > 0) {
        // A slow database must not cost us the partition: keep heartbeating while the transaction runs.
        const beat = setInterval(() => void heartbeat().catch(() => undefined), 1000);
        const handled = await untilDone('apply', () => handleBatch(valid)).finally(() => clearInterval(beat));
        if (!handled) return;
        metrics.messagesConsumed.inc({ topic, outcome: 'applied' }, valid.length - handled.duplicates);
        if (handled.duplicates) metrics.messagesConsumed.inc({ topic, outcome: 'duplicate' }, handled.duplicates);
        for (const t of handled.transitions) {
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
