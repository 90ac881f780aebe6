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
import { PermanentMessageError, classify, reportDefect, type AppError, type DeadLetterReason, type MessageContext } from '../../libraries/errors';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { coalescing } from '../../libraries/coalescing';
import { backoffMs } from '../../libraries/retry';

export interface DeadLetter {
  message: KafkaMessage;
  reason: DeadLetterReason;
  detail: string;
  context: MessageContext;
  /** For WORKER_DEFECT: the defect, reported (error log, metric) once the letter is sent. */
  defect?: AppError;
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
  /**
   * Partitions that have had work waiting longer than `boundMs` with no batch completing: stuck
   * (retrying, or blocked), whatever the connections say.
   */
  stalledPartitions(boundMs: number): Array<{ topic: string; partition: number; seconds: number }>;
  /** Messages behind the newest of this member's partitions, as their latest batches found them. */
  backlog(): number;
  /** Resolves if the consumer crashed for good; the process should then exit rather than live on as a zombie. */
  crashed: Promise<Error>;
}

/** The most messages one transaction applies: a larger batch from Kafka is applied in parts. */
export const MAX_TRANSACTION_MESSAGES = 500;
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

/** The headers of a dead letter; the AsyncAPI document (entry-points/http/asyncapi.ts) describes each. */
export function deadLetterHeaders(d: DeadLetter, topic: string, partition: number): Record<string, string> {
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

  /** Decodes and admits one message; permanent problems, and defects of ours, become dead letters. */
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
      const failure = classify(error, { topic, offset: message.offset });
      if (failure.code === 'WORKER_DEFECT') return { message, reason: 'WORKER_DEFECT', detail: failure.message, context: failure.context, defect: failure };
      throw failure;
    }
  }

  // Offsets are committed in the background, one request at a time carrying the newest offset of
  // each partition. A failed commit (a rebalance took the partition) is not retried: the next
  // batch's commit carries a later offset, and redelivered messages change nothing.
  const commitOffset = coalescing<{ topic: string; partition: number; offset: string }>((offsets) =>
    consumer.commitOffsets(offsets).catch((error: unknown) => logger.warn({ err: error, offsets }, 'offset commit failed')),
  );

  /**
   * Per partition: failures in a row, and since when it has had work not yet committed (cleared
   * when a batch completes). A new assignment starts afresh.
   */
  const partitions = new Map<string, { failures: number; pendingSince?: number; behind: number }>();
  consumer.on(consumer.events.GROUP_JOIN, () => partitions.clear());
  const stateOf = (key: string): { failures: number; pendingSince?: number; behind: number } => {
    let state = partitions.get(key);
    if (!state) partitions.set(key, (state = { failures: 0, behind: 0 }));
    return state;
  };

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    const log = logger.child({ topic, partition });
    const alive = (): boolean => isRunning() && !isStale();
    const state = stateOf(`${topic}:${partition}`);
    state.pendingSince ??= Date.now();
    state.behind = Number(batch.offsetLag());

    /**
     * Hands a retriable failure back to Kafka instead of waiting here: kafkajs fetches again only
     * once every partition of a fetch is done, so a wait here would hold up every partition. This
     * one is paused and resumed after a backoff; its offsets from the failed chunk on were never
     * resolved, so kafkajs fetches it again from there.
     */
    function retryLater(what: string, failure: AppError): void {
      state.failures += 1;
      const delay = backoffMs(state.failures);
      log.warn({ what, failures: state.failures, retryInMs: delay, code: failure.code, err: failure }, `${what} failed; partition paused, retrying`);
      const tp = [{ topic, partitions: [partition] }];
      consumer.pause(tp);
      setTimeout(() => {
        try {
          consumer.resume(tp);
        } catch {
          /* stopped meanwhile */
        }
      }, delay).unref();
    }

    /**
     * Applies messages in one transaction; returns a retriable failure to retry later, or nothing
     * when they are done. A failure pinned on one message splits the messages in halves, in
     * order, until that message stands alone: it is dead-lettered and the rest are applied.
     * - The database refuses it (a data or integrity error, or a retriable error that persists
     *   while the database answers other work): REJECTED_BY_STORE.
     * - A defect of ours fails on it again on a fresh attempt: WORKER_DEFECT (retrying the same
     *   code on the same message further cannot help).
     * While the database does not answer, nothing is split or dead-lettered: it is an outage, and
     * the batch waits for it (a worker whose database went away can fail in odd ways too).
     */
    async function applyIsolating(items: Admitted[], applied: HandledBatch[], refused: DeadLetter[], suspect = false): Promise<AppError | undefined> {
      for (let attempt = 1; ; attempt += 1) {
        let failure: AppError;
        try {
          applied.push(await handleBatch(items.map((i) => i.inbound)));
          return undefined;
        } catch (error) {
          failure = classify(error, { topic, partition, ...items[0]?.context });
        }
        const persistent = suspect ? attempt > SUSPECT_RETRIES : state.failures + 1 >= BATCH_RETRIES;
        // A defect is pinned on a message only when it comes again on a fresh attempt (a part of a
        // split batch, or the partition's retry), with the database answering.
        const defect = failure.code === 'WORKER_DEFECT';
        const pinned = defect ? (suspect || state.failures > 0) && (await databaseAnswers()) : !failure.retriable || (persistent && (await databaseAnswers()));
        if (!pinned) {
          if (!suspect || persistent) return failure;
          await heartbeat().catch(() => undefined);
          await new Promise((r) => setTimeout(r, backoffMs(attempt)));
          continue;
        }
        if (items.length === 1) {
          refused.push(defect ? { ...items[0]!, reason: 'WORKER_DEFECT', detail: failure.message, defect: failure } : { ...items[0]!, reason: 'REJECTED_BY_STORE', detail: failure.message });
          return undefined;
        }
        log.warn({ messages: items.length, code: failure.code, err: failure }, 'apply failed on one message; splitting the batch to find it');
        const half = Math.ceil(items.length / 2);
        return (await applyIsolating(items.slice(0, half), applied, refused, true)) ?? (await applyIsolating(items.slice(half), applied, refused, true));
      }
    }

    for (let start = 0; start < batch.messages.length && alive(); start += MAX_TRANSACTION_MESSAGES) {
      const chunk = batch.messages.slice(start, start + MAX_TRANSACTION_MESSAGES);
      const timer = metrics.batchSeconds.startTimer();
      let classified: Array<Admitted | DeadLetter>;
      try {
        classified = await Promise.all(chunk.map((m) => admit(topic, m)));
      } catch (error) {
        return retryLater('decode', classify(error, { topic, partition }));
      }
      const valid = classified.filter((c): c is Admitted => 'inbound' in c);
      const dead = classified.filter((c): c is DeadLetter => !('inbound' in c));

      if (valid.length > 0) {
        const applied: HandledBatch[] = [];
        // A slow database must not cost us the partition: keep heartbeating while the transaction runs.
        const beat = setInterval(() => void heartbeat().catch(() => undefined), 1000);
        const failure = await applyIsolating(valid, applied, dead).finally(() => clearInterval(beat));
        if (failure) return retryLater('apply', failure);
        const byInbound = new Map(valid.map((v) => [v.inbound, v]));
        for (const { message, reason, detail } of applied.flatMap((h) => h.conflicts)) dead.push({ ...byInbound.get(message)!, reason, detail });
        const duplicates = applied.reduce((n, h) => n + h.duplicates, 0);
        // Admitted messages dead-lettered here (refused by the store, met by a defect, conflicting duplicates).
        const admitted = new Set(valid.map((v) => v.message));
        const refusedHere = dead.filter((d) => admitted.has(d.message)).length;
        metrics.messagesConsumed.inc({ topic, outcome: 'applied' }, valid.length - duplicates - refusedHere);
        if (duplicates) metrics.messagesConsumed.inc({ topic, outcome: 'duplicate' }, duplicates);
        metrics.countTransitions(applied.flatMap((h) => h.transitions));
        for (const t of applied.flatMap((h) => h.transitions)) {
          log.info(
            { requestId: t.event.requestId, eventId: t.event.eventId, decisionId: t.event.decision?.decisionId, type: t.event.type, refusalCode: t.event.refusalCode },
            `approval ${t.event.type.toLowerCase()}`,
          );
        }
      }
      if (dead.length > 0) {
        try {
          await producer.send({
            topic: topics.deadLetter,
            acks: -1,
            messages: dead.map((d) => ({ key: d.message.key, value: d.message.value, headers: deadLetterHeaders(d, topic, partition) })),
          });
        } catch (error) {
          // What was applied is stored: redelivered, it changes nothing; the dead letters are sent then.
          return retryLater('dead-letter', classify(error, { topic, partition }));
        }
        metrics.messagesConsumed.inc({ topic, outcome: 'dead_lettered' }, dead.length);
        for (const d of dead) metrics.deadLetters.inc({ reason: d.reason });
        for (const d of dead) {
          if (d.defect) reportDefect(d.defect, 'consumer', log, metrics, { ...d.context, offset: d.message.offset, deadLettered: true });
          else log.warn({ ...d.context, offset: d.message.offset, reason: d.reason, detail: d.detail }, 'message dead-lettered');
        }
      }

      // Commit only what the database (and the dead-letter topic) now hold. The commit is not
      // awaited: the next fetch need not wait for it, and a commit lost to a crash or a
      // rebalance only redelivers messages whose effects are already stored (and deduplicated).
      const last = chunk[chunk.length - 1]!;
      payload.resolveOffset(last.offset);
      const committed = commitOffset(`${topic}:${partition}`, { topic, partition, offset: (BigInt(last.offset) + 1n).toString() });
      if (!isRunning()) await committed; // stopping: flush before the group is left
      state.failures = 0;
      timer();
      await heartbeat().catch(() => undefined);
    }
    if (alive()) state.pendingSince = undefined;
  }

  /** Partitions whose work has waited longer than `boundMs` without a batch completing. */
  function stalledPartitions(boundMs: number): Array<{ topic: string; partition: number; seconds: number }> {
    const now = Date.now();
    return [...partitions]
      .filter(([, s]) => s.pendingSince !== undefined && now - s.pendingSince > boundMs)
      .map(([key, s]) => {
        const at = key.lastIndexOf(':');
        return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)), seconds: (now - s.pendingSince!) / 1000 };
      });
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
  const backlog = (): number => [...partitions.values()].reduce((sum, p) => sum + p.behind, 0);
  return { stop: () => consumer.disconnect(), isInGroup: () => inGroup, stalledPartitions, backlog, crashed };
}
