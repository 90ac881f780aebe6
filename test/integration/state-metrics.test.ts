// The gauges read from the database and the consumer group are served by one replica at a time
// (the holder of the state lease), so that summing them over replicas gives the value, not a
// multiple of it; a replica that stops hands them over at the next scrape of another.
import { pollUntil } from '../../src/libraries/retry';
import { StateLease } from '../../src/data-access/state-lease';
import type { RunningWorker } from '../../src/worker';
import { aRequest } from '../support/builders';
import { startHarness, type Harness } from '../support/test-worker';

/** The metrics of the shared state: none of them is served by a replica that does not hold the lease. */
const SHARED = ['cardapproval_state_reporter', 'cardapproval_outbox_backlog', 'cardapproval_outbox_parked', 'cardapproval_emails_overdue_seconds', 'cardapproval_pending_approvals', 'cardapproval_oldest_pending_age_seconds', 'cardapproval_timers_waiting', 'cardapproval_timers_overdue_seconds', 'cardapproval_timers_parked', 'cardapproval_oldest_row_age_seconds', 'cardapproval_consumer_lag'];

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
  // A worker started and stopped before any scrape: the database is migrated, and no lease held.
  await (await harness.startWorker()).stop();
});

afterAll(async () => {
  await harness?.stop();
});

const metricsOf = async (worker: RunningWorker): Promise<string> => (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text();
const declared = (text: string): string[] => SHARED.filter((name) => new RegExp(`^# TYPE ${name} `, 'm').test(text));
const value = (text: string, series: string): number => Number(text.split('\n').find((line) => line.startsWith(`${series} `))?.split(' ').pop() ?? 0);

test('when a lease is held, then no one else takes it until it runs out or is given up', async () => {
  const lease = new StateLease(harness.db);
  expect(await lease.hold('first', 300)).toBe(true);
  expect(await lease.hold('second', 60_000)).toBe(false);
  expect(await lease.hold('first', 300)).toBe(true); // renewed by its holder
  await pollUntil(() => lease.hold('second', 60_000), (taken) => taken, { what: 'the lease to run out and pass on', timeoutMs: 10_000 });
  expect(await lease.hold('first', 300)).toBe(false);
  await lease.release('second');
  expect(await lease.hold('first', 60_000)).toBe(true);
  await lease.release('first');
});

test('when two workers are scraped, then one serves the database state and the other only its own metrics; when it stops, the other takes over', async () => {
  const [first, second] = [await harness.startWorker(), await harness.startWorker()];
  const waiting = aRequest('REQUEST_CARD');
  await harness.publishRequest(waiting);
  await harness.waitForEvents(waiting.requestId, 1);

  // The first scraped takes the lease; the other, scraped after, does not serve the state.
  const served = await pollUntil(async () => ({ first: await metricsOf(first), second: await metricsOf(second) }), (m) => value(m.first, 'cardapproval_pending_approvals{operation="REQUEST_CARD"}') === 1, { what: 'the pending approval in the first worker\'s metrics' });
  expect(declared(served.first)).toEqual(SHARED);
  expect(declared(served.second)).toEqual([]);
  for (const text of [served.first, served.second]) {
    expect(text).toMatch(/^# TYPE cardapproval_messages_consumed_total counter$/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
  }
  // Summed over the replicas, the gauge is the one pending approval, not one per replica.
  const sum = (series: string): number => value(served.first, series) + value(served.second, series);
  expect(sum('cardapproval_pending_approvals{operation="REQUEST_CARD"}')).toBe(1);
  expect(sum('cardapproval_state_reporter')).toBe(1);
  // Scraped again, the holder keeps it.
  expect(declared(await metricsOf(second))).toEqual([]);
  expect(declared(await metricsOf(first))).toEqual(SHARED);

  // The holder stops and gives the lease up: the other serves the state at its next scrape.
  await first.stop();
  const after = await metricsOf(second);
  expect(declared(after)).toEqual(SHARED);
  expect(value(after, 'cardapproval_pending_approvals{operation="REQUEST_CARD"}')).toBe(1);
  expect(after).toMatch(/^cardapproval_oldest_pending_age_seconds\{operation="REQUEST_CARD"\} \d/m);
  await second.stop();
});

test('when the state cannot be read (its lease row locked past the lock timeout), then /metrics still serves the replica\'s own metrics, without the state', async () => {
  const worker = await harness.startWorker({ DATABASE_LOCK_TIMEOUT_MS: '500' });
  expect(declared(await metricsOf(worker))).toEqual(SHARED);
  const runner = harness.db.createQueryRunner();
  await runner.connect();
  try {
    await runner.startTransaction();
    await runner.query(`SELECT * FROM maintenance_leases WHERE name = 'state-metrics' FOR UPDATE`);
    const response = await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(declared(text)).toEqual([]);
    expect(text).toMatch(/^# TYPE cardapproval_messages_consumed_total counter$/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
  } finally {
    await runner.rollbackTransaction();
    await runner.release();
  }
  // The lock gone, the next scrape serves the state again.
  expect(declared(await metricsOf(worker))).toEqual(SHARED);
});
