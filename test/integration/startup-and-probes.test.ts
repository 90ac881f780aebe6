// Start-up as an orchestrator sees it: the port answers first (live), readiness says what
// start-up waits for, every dependency is waited for a bounded time with progress lines, and what
// waiting cannot mend (a registry at a wrong path) ends start-up at once with the setting named.
import net from 'node:net';
import { pollUntil } from '../../src/libraries/retry';
import { ensureBuilt } from '../support/build';
import { freePort } from '../support/ports';
import { startHarness, type Harness } from '../support/test-worker';
import { startWorkerProcess } from '../support/worker-process';

let harness: Harness;
let closedPort: number;
beforeAll(async () => {
  await ensureBuilt();
  harness = await startHarness();
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});
afterAll(() => harness?.stop());

const answer = async (port: number, path: string): Promise<{ status: number; body: unknown } | undefined> => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`).catch(() => undefined);
  return res && { status: res.status, body: await res.json() };
};

test('when the broker is away, then /health/live answers 200 and readiness says start-up waits for Kafka, with a progress line naming KAFKA_BROKERS, and after STARTUP_WAIT it exits 1 naming it', async () => {
  const port = await freePort();
  const worker = startWorkerProcess({ ...harness.env, KAFKA_BROKERS: `127.0.0.1:${closedPort}`, HTTP_PORT: String(port), STARTUP_WAIT: '6s' });
  const live = await pollUntil(() => answer(port, '/health/live'), (a) => a?.status === 200, { what: 'liveness' });
  expect(live).toEqual({ status: 200, body: { status: 'live' } });
  // It migrates first, then waits for the broker.
  expect(await pollUntil(() => answer(port, '/health/ready'), (a) => (a?.body as { waitingFor?: string } | undefined)?.waitingFor === 'kafka', { what: 'readiness naming kafka' })).toEqual({ status: 503, body: { status: 'starting', waitingFor: 'kafka' } });
  expect((await fetch(`http://127.0.0.1:${port}/api/me`)).status).toBe(503);
  await worker.logged(/"setting":"KAFKA_BROKERS".*"msg":"waiting for the broker \(KAFKA_BROKERS\)"/);
  expect(worker.output()).not.toContain('consumer joined group');
  expect(await worker.exited).toEqual({ code: 1, signal: null });
  const errors = worker.output().split('\n').filter((line) => /"level":(50|60)/.test(line));
  expect(errors).toEqual([expect.stringMatching(/the broker did not answer within 6 s \(STARTUP_WAIT\): check KAFKA_BROKERS.*"msg":"worker failed to start"/)]);
}, 60_000);

test('when the schema registry is at a wrong path, then the worker exits 1 at once, naming SCHEMA_REGISTRY_URL', async () => {
  const began = Date.now();
  const worker = startWorkerProcess({ ...harness.env, SCHEMA_REGISTRY_URL: `${new URL(harness.config.schemaRegistryUrl).origin}/wrong/path`, STARTUP_WAIT: '60s' });
  expect(await worker.exited).toEqual({ code: 1, signal: null });
  expect(Date.now() - began).toBeLessThan(30_000);
  const errors = worker.output().split('\n').filter((line) => /"level":(50|60)/.test(line));
  expect(errors).toEqual([expect.stringMatching(/check SCHEMA_REGISTRY_URL.*"msg":"worker failed to start"/)]);
}, 60_000);

test('when the HTTP port is taken, then the worker exits 1 before it joins its group', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const worker = startWorkerProcess({ ...harness.env, HTTP_PORT: String((taken.address() as net.AddressInfo).port) });
    expect(await worker.exited).toEqual({ code: 1, signal: null });
    expect(worker.output()).toMatch(/EADDRINUSE/);
    expect(worker.output()).not.toContain('consumer joined group');
    expect(worker.output()).not.toContain('database migrated');
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
}, 60_000);
