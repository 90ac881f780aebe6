// One partition whose database work is blocked must not stop the others, and readiness must say
// which partition makes no progress.
import { Client } from 'pg';
import type { CardOperationRequest } from '../../src/domain/card-operation';
import { pollUntil } from '../../src/libraries/retry';
import { aRequest } from '../support/builders';
import { startHarness, type Harness } from '../support/test-worker';

const STALLED_AFTER_MS = 2000;
let harness: Harness;
let base: string;

beforeAll(async () => {
  harness = await startHarness({ TOPIC_PARTITIONS: '2', DATABASE_LOCK_TIMEOUT_MS: '300', PARTITION_STALLED_AFTER_MS: String(STALLED_AFTER_MS) });
  base = `http://127.0.0.1:${(await harness.startWorker()).httpPort}`;
});

afterAll(async () => {
  await harness?.stop();
});

const readiness = async (): Promise<{ status: number; body: { checks: Record<string, { ok: boolean; error?: string }> } }> => {
  const res = await fetch(`${base}/health/consumer`);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, { ok: boolean; error?: string }> } };
};

async function publishTo(partition: number, requests: CardOperationRequest[]): Promise<void> {
  const topic = harness.config.topics.requests.LOCK_CARD;
  const messages = await Promise.all(
    requests.map(async (r) => ({ key: r.requestId, partition, value: await harness.encodeWith(`${topic}-value`, 'card-operation-request', r) })),
  );
  await harness.publishRawBatch(topic, messages);
}

test('when one partition cannot get its lock, then the other partitions keep applying and readiness names the stalled one until it moves', async () => {
  const blocked = aRequest('LOCK_CARD');
  // Another session holds the request's lock, as a long transaction of another process would.
  const holder = new Client({ connectionString: harness.env.DATABASE_URL });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [blocked.requestId]);
  try {
    await publishTo(0, [blocked]);
    const others = Array.from({ length: 5 }, () => aRequest('LOCK_CARD'));
    await publishTo(1, others);
    for (const other of others) await harness.waitForEvents(other.requestId, 1, 15_000);

    const notReady = await pollUntil(readiness, (r) => r.status === 503, { timeoutMs: STALLED_AFTER_MS + 10_000, what: 'readiness 503' });
    expect(notReady.body.checks.progress?.error).toContain(`${harness.config.topics.requests.LOCK_CARD}[0]`);
    // Work arriving on the other partition after the stall began is applied too.
    const later = aRequest('LOCK_CARD');
    await publishTo(1, [later]);
    await harness.waitForEvents(later.requestId, 1, 15_000);
    expect(harness.eventsFor(blocked.requestId)).toEqual([]);
  } finally {
    await holder.query('ROLLBACK');
    await holder.end();
  }
  await harness.waitForEvents(blocked.requestId, 1, 30_000);
  await pollUntil(readiness, (r) => r.status === 200, { timeoutMs: 15_000, what: 'readiness 200 again' });
  expect(await harness.record(blocked.requestId)).toMatchObject({ status: 'PENDING' });
}, 90_000);
