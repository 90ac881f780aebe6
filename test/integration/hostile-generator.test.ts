// Generated hostile requests through the real broker to a real worker: every message gets exactly
// one outcome, every email it causes is delivered or parked, and each partition moves on.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { OPERATIONS, type CardOperationRequest } from '../../src/domain/card-operation';
import { AvroCodec } from '../../src/adapters/schema-registry/avro-codec';
import { pollUntil } from '../../src/libraries/retry';
import { aRequest } from '../support/builders';
import { hostileRequest } from '../support/hostile-requests';
import { startHarness, type Harness } from '../support/test-worker';

const INPUTS = 150;
const PARTITIONS = 2;
let harness: Harness;
let base: string;

beforeAll(async () => {
  harness = await startHarness({ TOPIC_PARTITIONS: String(PARTITIONS) });
  base = `http://127.0.0.1:${(await harness.startWorker()).httpPort}`;
});

afterAll(async () => {
  await harness?.stop();
});

test(`when ${INPUTS} generated hostile requests arrive, then each gets one outcome, each email is sent or parked, and every partition moves on`, async () => {
  const seed = Date.now() % 2 ** 31;
  const inputs = fc.sample(hostileRequest(), { numRuns: INPUTS, seed });
  const run = randomUUID().slice(0, 8);
  const keyOf = (i: number): string => `g-${run}-${i}`;

  // The worker sees what the Avro bytes carry (an unpaired surrogate, say, arrives as U+FFFD), so
  // outcomes are looked up by the request id decoded from the bytes sent.
  const codec = new AvroCodec(harness.config.schemaRegistryUrl);
  const seenIds: string[] = [];
  const byTopic = new Map<string, Array<{ key: string; value: Buffer; partition?: number }>>();
  for (const [i, request] of inputs.entries()) {
    const topic = harness.config.topics.requests[request.operation];
    const value = await harness.encodeWith(`${topic}-value`, 'card-operation-request', request);
    seenIds.push((await codec.decode<CardOperationRequest>(value, 'card-operation-request')).requestId);
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), { key: keyOf(i), value }]);
  }
  // After them, one good request on every partition of every request topic.
  const sentinels: CardOperationRequest[] = [];
  for (const operation of OPERATIONS) {
    const topic = harness.config.topics.requests[operation];
    for (let partition = 0; partition < PARTITIONS; partition += 1) {
      const good = aRequest(operation);
      sentinels.push(good);
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), { key: good.requestId, partition, value: await harness.encodeWith(`${topic}-value`, 'card-operation-request', good) }]);
    }
  }
  for (const [topic, messages] of byTopic) await harness.publishRawBatch(topic, messages);
  for (const good of sentinels) await harness.waitForEvents(good.requestId, 1, 60_000);

  // Exactly one outcome each: an approval opened, or a dead letter with a reason. The dead letters
  // reach this test's observer on a topic of their own, so they are awaited too.
  // (An id with a NUL cannot even be looked up in Postgres, so it cannot have a record.)
  const storable = seenIds.filter((id) => !id.includes('\u0000'));
  const outcomesNow = async (): Promise<Array<{ i: number; opened: boolean; deadLetters: Array<string | undefined> }>> => {
    const rows: Array<{ request_id: string }> = await harness.db.query('SELECT request_id FROM approval_requests WHERE request_id = ANY($1)', [storable]);
    const opened = new Set(rows.map((r) => r.request_id));
    return inputs.map((_, i) => ({
      i,
      opened: opened.has(seenIds[i]!),
      deadLetters: harness.deadLettersSeen().filter((d) => d.key === keyOf(i)).map((d) => d.headers['dlq.reason']),
    }));
  };
  const oneEach = (all: Awaited<ReturnType<typeof outcomesNow>>): boolean => all.every((o) => Number(o.opened) + o.deadLetters.length === 1);
  const outcomes = await pollUntil(outcomesNow, oneEach, { timeoutMs: 15_000, what: 'one outcome per input' }).catch(() => outcomesNow());
  const wrong = outcomes.filter((o) => Number(o.opened) + o.deadLetters.length !== 1);
  expect(wrong.map((o) => ({ ...o, requestId: inputs[o.i]!.requestId, operation: inputs[o.i]!.operation }))).toEqual([]);

  // Every email the opened ones caused is delivered or parked with its reason, none left waiting.
  const emails = await pollUntil(
    (): Promise<Array<{ status: string; n: number }>> => harness.db.query(`SELECT status, count(*)::int AS n FROM email_outbox GROUP BY status`),
    (rows) => !rows.some((r) => r.status === 'PENDING'),
    { timeoutMs: 60_000, what: 'every email sent or parked' },
  );
  const ready = await fetch(`${base}/health/ready`);
  expect(ready.status).toBe(200);

  const reasons = outcomes.flatMap((o) => o.deadLetters).reduce<Record<string, number>>((acc, r) => ({ ...acc, [r!]: (acc[r!] ?? 0) + 1 }), {});
  const distinct = new Set(inputs.map((r) => JSON.stringify(r))).size;
  process.stdout.write(
    `\n[hostile generator] seed ${seed}: ${distinct} distinct inputs; ${outcomes.filter((o) => o.opened).length} opened, ` +
      `dead letters ${JSON.stringify(reasons)}; emails ${JSON.stringify(Object.fromEntries(emails.map((e) => [e.status, e.n])))}; 0 stalls, 0 lost\n`,
  );
}, 180_000);
