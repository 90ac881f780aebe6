// The decisions baseline, in a process of its own as the worker is: consume decisions, write one
// row each (one statement per batch), commit the offsets and produce one event each, with no
// business logic. It is the limit the worker's decisions at saturation and its decision→event
// latency are measured against, on the same broker and database at the same time. It stays this
// minimal pipeline however many features the worker gains, so the ratio shows what they cost.
//
// Run as a child with an IPC channel. Environment: the stack's variables, BASELINE_DECISIONS
// and BASELINE_EVENTS (topics), BASELINE_DATABASE_URL. It sends { ready: true } once fetching,
// then { decisions, at } after each batch.
import { randomUUID } from 'node:crypto';
import { createKafka, createProducer } from '../../src/adapters/kafka/kafka-client';
import { AvroCodec } from '../../src/adapters/schema-registry/avro-codec';
import { createDataSource } from '../../src/data-access/data-source';
import type { ApprovalEvent } from '../../src/domain/approval';
import type { ApprovalDecision } from '../../src/domain/card-operation';
import { coalescing } from '../../src/libraries/coalescing';
import { loadConfig } from '../../src/libraries/config';
import { createLogger } from '../../src/libraries/logger';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const decisionsTopic = process.env.BASELINE_DECISIONS!;
  const eventsTopic = process.env.BASELINE_EVENTS!;
  const db = await createDataSource(process.env.BASELINE_DATABASE_URL!, 4).initialize();
  await db.query('CREATE TABLE IF NOT EXISTS baseline_decisions (request_id text PRIMARY KEY, decision text NOT NULL, decided_at timestamptz NOT NULL)');
  const codec = new AvroCodec(config.schemaRegistryUrl);
  const eventSchema = await codec.register(`${eventsTopic}-value`, 'approval-event');
  const kafka = createKafka(config.kafka, createLogger('silent'), 'bench-decision-baseline');
  const producer = createProducer(kafka);
  await producer.connect();
  // The worker's consumer settings that decide when a batch arrives.
  const consumer = kafka.consumer({ groupId: `decision-baseline-${randomUUID()}`, maxWaitTimeInMs: 1000, maxBytesPerPartition: 256 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topics: [decisionsTopic], fromBeginning: true });
  consumer.on(consumer.events.FETCH, () => process.send?.({ ready: true }));
  // Offsets are committed in the background, one commit at a time carrying each partition's
  // newest offset, as the worker commits them: the next fetch does not wait for a commit.
  const commitOffset = coalescing<{ topic: string; partition: number; offset: string }>((offsets) => consumer.commitOffsets(offsets).catch(() => undefined));
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: config.kafka.partitionsConcurrently,
    eachBatch: async ({ batch, resolveOffset }) => {
      const began = Date.now(); // the events' occurredAt, as the worker stamps its batch's start
      const decisions = await Promise.all(batch.messages.map((m) => codec.decode<ApprovalDecision>(m.value, 'approval-decision')));
      // One row per request: a later decision in the batch replaces an earlier one.
      const rows = [...new Map(decisions.map((d) => [d.requestId, { requestId: d.requestId, decision: d.decision }])).values()];
      await db.query(
        `INSERT INTO baseline_decisions (request_id, decision, decided_at)
         SELECT r->>'requestId', r->>'decision', now() FROM jsonb_array_elements($1::jsonb) AS r
         ON CONFLICT (request_id) DO UPDATE SET decision = excluded.decision, decided_at = excluded.decided_at`,
        [JSON.stringify(rows)],
      );
      const now = Date.now();
      const events = await Promise.all(
        decisions.map(async (d) => {
          const event: ApprovalEvent = { eventId: d.decisionId, type: 'APPROVED', requestId: d.requestId, operation: 'LOCK_CARD', status: 'APPROVED', occurredAt: began, requester: d.approver, cards: [], description: null, approvers: [d.approver], requestedAt: null, dueAt: null, decision: { decisionId: d.decisionId, decision: d.decision, approver: d.approver, reason: d.reason, decidedAt: d.decidedAt, actingAs: d.actingAs, onBehalfOf: null, reassign: null }, refusalCode: null, message: null, progress: null, cardResults: [] };
          return { key: d.requestId, value: await codec.encode(eventSchema, event) };
        }),
      );
      await producer.send({ topic: eventsTopic, acks: -1, messages: events });
      const last = batch.messages[batch.messages.length - 1]!.offset;
      resolveOffset(last);
      void commitOffset(`${batch.topic}:${batch.partition}`, { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() });
      process.send?.({ decisions: batch.messages.length, at: now });
    },
  });
  process.on('disconnect', () => {
    void Promise.allSettled([consumer.disconnect(), producer.disconnect(), db.destroy()]).then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
