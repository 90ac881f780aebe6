// API callers cannot take the consumer's database connections: the API reads through a pool of
// its own, and Postgres shows whose each connection is (application_name). Here slow searches,
// many at once, keep every connection of the API's pool busy while requests arrive through Kafka.
import { setTimeout as sleep } from 'node:timers/promises';
import { API_POOL_SIZE, POOL_NAMES } from '../../src/data-access/data-source';
import { mintLocalToken } from '../../src/entry-points/http/auth';
import { pollUntil } from '../../src/libraries/retry';
import { aPerson, aRequest } from '../support/builders';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';

let harness: Harness;
let base: string;
beforeAll(async () => ({ harness, base } = await startHarnessWithWorker({ AUTH_SECRET: TEST_AUTH_SECRET })));
afterAll(() => harness?.stop());

const HISTORY = 30_000;

/** Closed requests whose descriptions all hold the words "please", "lock" and "card". */
async function storeHistory(): Promise<void> {
  await harness.db.query(
    `INSERT INTO approval_requests (request_id, operation, status, requester, cards, approvers, description, requested_at, opened_at, updated_at, closed_at)
     SELECT 'history-' || g, 'LOCK_CARD', 'APPROVED',
            jsonb_build_object('id', 'requester-' || g % 100, 'name', 'Requester ' || g % 100, 'email', 'requester-' || g % 100 || '@example.com', 'locale', null),
            jsonb_build_array(jsonb_build_object('cardId', 'card-' || g, 'cardType', 'EMPLOYEE_BADGE', 'serialNumber', 'SN-' || g,
              'holder', jsonb_build_object('id', 'holder-' || g, 'name', 'Holder', 'email', 'holder@example.com', 'locale', null), 'status', 'ACTIVE', 'validTo', null)),
            jsonb_build_array(jsonb_build_object('id', 'approver-' || g % 10, 'name', 'Approver', 'email', 'approver@example.com', 'locale', null)),
            'Please lock card ' || g, now(), now() - g * interval '1 second', now(), now()
       FROM generate_series(1, $1::int) AS g`,
    [HISTORY],
  );
  await harness.db.query('ANALYZE approval_requests');
}

type Sample = Record<string, { all: number; active: number }>;

/** The worker's connections to its database, by pool, as Postgres sees them now. */
async function connectionsByPool(): Promise<Sample> {
  const rows: Array<{ pool: string; state: string | null; n: number }> = await harness.db.query(
    `SELECT application_name AS pool, state, count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = ANY($1) GROUP BY 1, 2`,
    [[POOL_NAMES.api, POOL_NAMES.worker]],
  );
  const sample: Sample = { [POOL_NAMES.api]: { all: 0, active: 0 }, [POOL_NAMES.worker]: { all: 0, active: 0 } };
  for (const { pool, state, n } of rows) {
    sample[pool]!.all += n;
    if (state === 'active') sample[pool]!.active += n;
  }
  return sample;
}

test('when slow API searches keep every connection of the API pool busy, then requests sent through Kafka are still opened, and the API never holds more connections than its pool', async () => {
  await storeHistory();
  const operator = await mintLocalToken(harness.config.auth, { ...aPerson('operator'), roles: ['operator'] });
  // Every stored row has the trigrams of these words but none holds them in this order: the index
  // narrows nothing, and each search rechecks every row (a real cost, not an injected delay).
  const slowSearch = `${base}/api/requests?q=${encodeURIComponent('card lock please')}`;

  const samples: Sample[] = [];
  const statuses: number[] = [];
  let done = false;
  const sampler = (async () => {
    while (!done) {
      samples.push(await connectionsByPool());
      await sleep(25); // the sampling interval, not a wait for an outcome
    }
  })();
  // Twice as many callers as the pool has connections (each search runs two statements at once),
  // each searching again as soon as it is answered.
  const callers = Array.from({ length: 2 * API_POOL_SIZE }, async () => {
    while (!done) {
      const res = await fetch(slowSearch, { headers: { authorization: `Bearer ${operator}` } });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
  });

  const saturated = (s: Sample | undefined): boolean => (s?.[POOL_NAMES.api]?.active ?? 0) >= API_POOL_SIZE;
  const requests = Array.from({ length: 10 }, () => aRequest('LOCK_CARD'));
  let whileOpening: Sample[];
  try {
    await pollUntil(async () => samples.at(-1), saturated, { timeoutMs: 60_000, what: `all ${API_POOL_SIZE} connections of the API pool running statements at once` });
    const from = samples.length;
    for (const request of requests) await harness.publishRequest(request);
    for (const request of requests) await harness.waitForEvents(request.requestId, 1, 60_000);
    whileOpening = samples.slice(from);
  } finally {
    done = true;
    await Promise.all([sampler, ...callers]);
  }

  // The searches kept the API pool full while the requests were being opened.
  expect(whileOpening.some(saturated)).toBe(true);
  for (const request of requests) expect(await harness.record(request.requestId)).toMatchObject({ status: 'PENDING' });
  expect(Math.max(...samples.map((s) => s[POOL_NAMES.api]!.all))).toBe(API_POOL_SIZE);
  expect(new Set(statuses)).toEqual(new Set([200]));
}, 120_000);

test('when an API read waits on the database past its statement timeout, then the caller gets 503 UNAVAILABLE with Retry-After, not 500', async () => {
  const operator = await mintLocalToken(harness.config.auth, { ...aPerson('operator'), roles: ['operator'] });
  // Another session holds the table, so the read waits until its statement timeout ends it.
  await harness.db.transaction(async (held) => {
    await held.query('LOCK TABLE approval_requests IN ACCESS EXCLUSIVE MODE');
    const res = await fetch(`${base}/api/requests/anything`, { headers: { authorization: `Bearer ${operator}` } });
    expect({ status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() }).toEqual({
      status: 503,
      retryAfter: '1',
      body: { error: 'UNAVAILABLE', message: expect.any(String) },
    });
  });
}, 30_000);
