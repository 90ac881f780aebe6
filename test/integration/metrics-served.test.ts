// What /metrics serves, read the way Prometheus's own tools read it: promtool finds nothing wrong
// but prom-client's own gauges named _total, every metric the alert rules and the dashboard read
// is served, and Node's process metrics have their standard names.
import { aRequest } from '../support/builders';
import { pollUntil } from '../../src/libraries/retry';
import { alertRules, dashboardExpressions, metricNames, promtool, servedNames } from '../support/promql';
import { startHarness, type Harness } from '../support/test-worker';

/**
 * What `promtool check metrics` may report: prom-client's default metrics declare these three
 * gauges with a _total suffix (counts of handles, requests and resources now active). They are
 * its names, which stock Node.js dashboards read; renaming them would break those.
 */
const PROM_CLIENT_OWN = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'].map((name) => `${name} non-counter metrics should not have "_total" suffix`);

/** Prometheus's own series about each target, not served by it. */
const PROMETHEUS_OWN = new Set(['up']);

let harness: Harness;
let base: string;

beforeAll(async () => {
  harness = await startHarness();
  base = `http://127.0.0.1:${(await harness.startWorker()).httpPort}`;
  // Something to count, so that labelled series are there as well as their declarations.
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
});

afterAll(async () => {
  await harness?.stop();
});

/** /metrics once this worker serves the shared state too. */
const metricsWithState = (url = base): Promise<string> =>
  pollUntil(async () => (await fetch(`${url}/metrics`)).text(), (text) => /^cardapproval_state_reporter 1$/m.test(text) && /^cardapproval_pending_approvals\{/m.test(text), { what: 'the shared state in /metrics' });

test("when a worker serves /metrics, then promtool check metrics finds nothing but prom-client's own _total gauges", async () => {
  const { status, output } = promtool(['check', 'metrics'], await metricsWithState());
  const problems = output.split('\n').filter((line) => line.trim() !== '');
  expect(problems.filter((line) => !PROM_CLIENT_OWN.includes(line))).toEqual([]);
  // promtool fails on what it reported; on nothing else.
  expect(status).toBe(problems.length > 0 ? 3 : 0);
});

test('when the alert rules and the dashboard are read, then every metric they name is one /metrics serves', async () => {
  const served = servedNames(await metricsWithState());
  const read = [...alertRules().map((r) => ({ where: `rule ${r.alert}`, expr: r.expr })), ...dashboardExpressions().map((d) => ({ where: `panel ${d.panel}`, expr: d.expr }))];
  expect(read.length).toBeGreaterThan(20);
  const unserved = read.flatMap(({ where, expr }) => metricNames(expr).filter((name) => !served.has(name) && !PROMETHEUS_OWN.has(name)).map((name) => `${where}: ${name}`));
  expect(unserved).toEqual([]);
});

test("when /metrics is read, then Node's process metrics have prom-client's standard names, and none has our prefix", async () => {
  const served = servedNames(await metricsWithState());
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_gc_duration_seconds_bucket']) expect(served).toContain(name);
  expect([...served].filter((name) => /^cardapproval_(process|nodejs)_/.test(name))).toEqual([]);
});
