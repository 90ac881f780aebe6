// METRICS_PORT: the probes and /metrics on a port of their own, which the route to the API need
// not expose; HTTP_PORT then serves the API, the page and the contracts only.
import { pollUntil } from '../../src/libraries/retry';
import { startHarness, type Harness } from '../support/test-worker';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness?.stop();
});

test('when METRICS_PORT is unset, then HTTP_PORT serves the probes and metrics beside the API', async () => {
  const worker = await harness.startWorker();
  expect(worker.metricsPort).toBe(worker.httpPort);
  const base = `http://127.0.0.1:${worker.httpPort}`;
  for (const route of ['/health/live', '/metrics', '/openapi.json']) expect({ route, status: (await fetch(`${base}${route}`)).status }).toEqual({ route, status: 200 });
  await worker.stop();
});

test('when METRICS_PORT is set, then probes and metrics answer on that port alone, and the API stays on HTTP_PORT', async () => {
  const worker = await harness.startWorker({ METRICS_PORT: '0' });
  expect(worker.metricsPort).not.toBe(worker.httpPort);
  const api = `http://127.0.0.1:${worker.httpPort}`;
  const probes = `http://127.0.0.1:${worker.metricsPort}`;
  expect(await (await fetch(`${probes}/health/live`)).json()).toEqual({ status: 'live' });
  await pollUntil(async () => (await fetch(`${probes}/health/ready`)).status, (status) => status === 200, { what: 'readiness on METRICS_PORT' });
  expect([200, 503]).toContain((await fetch(`${probes}/health/consumer`)).status);
  const metrics = await (await fetch(`${probes}/metrics`)).text();
  expect(metrics).toMatch(/^# TYPE cardapproval_messages_consumed_total counter$/m);
  // HTTP_PORT serves the API, the page and the contracts, and no longer the probes or metrics.
  for (const route of ['/metrics', '/health/live', '/health/ready', '/health/consumer']) expect({ route, status: (await fetch(`${api}${route}`)).status }).toEqual({ route, status: 404 });
  expect((await fetch(`${api}/openapi.json`)).status).toBe(200);
  expect((await fetch(`${probes}/openapi.json`)).status).toBe(404);
  // A query the probes do not take is refused there as on any route.
  expect((await fetch(`${probes}/health/live?verbose=1`)).status).toBe(400);
});
