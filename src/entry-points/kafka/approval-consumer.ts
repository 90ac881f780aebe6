// The Kafka entry point. Per batch of one partition: decode and validate every message, send the
// ones that can never succeed to the dead-letter topic, apply the rest in one database
// transaction, and only then commit the offset. Transient failures (registry, database, broker)
// are retried here with backoff while heartbeating, so one outage neither loses nor
// dead-letters anything and does not trigger a rebalance.
import type { EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Consumer, Producer } from '../../adapters/kafka/kafka-client';
import type { AvroCodec } from '../../adapters/schema-registry/avro-codec';
import type { ApprovalStore } from '../../data-access/approval-store';
import type { ApprovalEvent } from '../../domain/approval';
import { approversFor } from '../../domain/approval-policy';
import type { ApprovalDecision, CardOperationRequest, Operation } from '../../domain/card-operation';
import type { InboundMessage } from '../../domain/process-batch';
import { decisionProblems, requestProblems } from '../../domain/validate-message';
import type { Config } from '../../libraries/config';
import { PermanentMessageError, TransientError, describe, type DeadLetterReason, type MessageContext } from '../../libraries/errors';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { coalescing } from '../../libraries/coalescing';

export interface DeadLetter {
  message: KafkaMessage;
  reason: DeadLetterReason;
  detail: string;
  context: MessageContext;
}

export interface ConsumerDeps {
  config: Config;
  consumer: Consumer;
  producer: Producer;
  codec: AvroCodec;
  store: ApprovalStore;
  logger: Logger;
  metrics: Metrics;
  /** Called after each database commit with the events this process may publish at once. */
  onApplied: (publishNow: ApprovalEvent[]) => void;
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

export async function startApprovalConsumer(deps: ConsumerDeps): Promise<void> {
  const { config, consumer, producer, codec, store, logger, metrics, onApplied } = deps;
  const operationByTopic = new Map<string, Operation>(Object.entries(config.topics.requests).map(([op, topic]) => [topic, op as Operation]));

  /** Decodes and validates one message; permanent problems become dead letters. */
  async function classify(topic: string, message: KafkaMessage): Promise<InboundMessage | DeadLetter> {
    try {
      const operation = operationByTopic.get(topic);
      if (operation) {
        const request = await codec.decode<CardOperationRequest>(message.value, 'card-operation-request');
        const problems = requestProblems(request, operation, config);
        if (problems.length > 0) throw new PermanentMessageError('INVALID_CONTENT', problems.join('; '), { requestId: request.requestId });
        const approvers = approversFor(request, config.approverGroups);
        if (approvers.length === 0) {
          throw new PermanentMessageError('NO_APPROVERS', `request names no approvers and no approver group is configured for ${operation}`, { requestId: request.requestId });
        }
        return { kind: 'request', request, approvers };
      }
      const decision = await codec.decode<ApprovalDecision>(message.value, 'approval-decision');
      const problems = decisionProblems(decision);
      if (problems.length > 0) throw new PermanentMessageError('INVALID_CONTENT', problems.join('; '), { decisionId: decision.decisionId });
      return { kind: 'decision', decision };
    } catch (error) {
      if (error instanceof PermanentMessageError) return { message, reason: error.reason, detail: error.message, context: error.context };
      throw error;
    }
  }

  // Offsets are committed in the background, one request at a time carrying the newest offset of
  // each partition. A failed commit (a rebalance took the partition) is not retried: the next
  // batch's commit carries a later offset, and redelivered messages change nothing.
  const commitOffset = coalescing<{ topic: string; partition: number; offset: string }>((offsets) =>
    consumer.commitOffsets(offsets).catch((error: unknown) => logger.warn({ err: describe(error), offsets }, 'offset commit failed')),
  );
  await consumer.subscribe({ topics: [...operationByTopic.keys(), config.topics.decisions], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    // Partitions wait mostly on the database, so several run at once (per-request locks keep order).
    partitionsConsumedConcurrently: config.kafka.partitionsConcurrently,
    eachBatch: async (payload: EachBatchPayload) => {
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
            const delay = Math.min(10_000, 200 * 2 ** Math.min(attempt, 6));
            log.warn({ what, attempt, retryInMs: delay, err: describe(error), transient: error instanceof TransientError }, `${what} failed; retrying`);
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
          const changes = await untilDone('apply', () => store.applyBatch(valid)).finally(() => clearInterval(beat));
          if (!changes) return;
          onApplied(changes.publishNow);
          metrics.messagesConsumed.inc({ topic, outcome: 'applied' }, valid.length - changes.duplicates);
          if (changes.duplicates) metrics.messagesConsumed.inc({ topic, outcome: 'duplicate' }, changes.duplicates);
          for (const t of changes.transitions) {
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
              topic: config.topics.deadLetter,
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
    },
  });
}
