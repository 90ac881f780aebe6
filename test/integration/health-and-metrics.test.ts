// Operators' view: liveness, readiness and Prometheus metrics that move with the lifecycle.
import { aDecision, aRequest } from '../support/builders';
import { pollUntil } from '../../src/libraries/retry';
import { waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';

let harness: Harness;
let base: string;

beforeAll(async () => {
  harness = await startHarness();
  const worker = await harness.startWorker();
  base = `http://127.0.0.1:${worker.httpPort}`;
});

afterAll(async () => {
  await harness?.stop();
});

const metricValue = (text: string, name: string, labels: string): number => {
  const line = text
    .split('\n')
    .find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && labels.split(',').every((label) => l.includes(label)));
  return line ? Number(line.split(' ').pop()) : 0;
};

test('when the worker runs, then it is live, and ready once broker, registry, database and consumer group answer', async () => {
  expect((await fetch(`${base}/health/live`)).status).toBe(200);
  const ready = await pollUntil(
    async () => ({ status: (await fetch(`${base}/health/consumer`)).status, body: await (await fetch(`${base}/health/consumer`)).json() }),
    (r) => r.status === 200,
    { what: 'readiness' },
  );
  expect(ready.body).toMatchObject({ status: 'ready', checks: { database: { ok: true }, broker: { ok: true }, registry: { ok: true }, consumer: { ok: true } } });
  // The page and the API need only their database: that is /health/ready.
  expect(await (await fetch(`${base}/health/ready`)).json()).toEqual({ status: 'ready', checks: { database: { ok: true } } });
  expect((await fetch(`${base}/nowhere`)).status).toBe(404);
});

test('when requests, decisions and garbage flow, then the counters, the backlog and the pending gauges move', async () => {
  const { topics } = harness.config;
  const approved = aRequest('LOCK_CARD');
  const waiting = aRequest('REQUEST_CARD');
  await harness.publishRequest(approved);
  await harness.publishRequest(waiting);
  await harness.publishDecision(aDecision(approved, 'APPROVED'));
  await harness.publishDecision(aDecision(approved, 'APPROVED', { approver: approved.approvers[1]! })); // refused: closed
  await harness.publishRaw(topics.decisions, 'garbage', Buffer.from('garbage'));
  await harness.waitForEvents(approved.requestId, 3);
  await harness.waitForEvents(waiting.requestId, 1);
  await waitForEmails(approved.requester.email, 1);

  const text = await pollUntil(
    async () => (await fetch(`${base}/metrics`)).text(),
    (t) => metricValue(t, 'cardapproval_emails_sent_total', '') >= 5 && metricValue(t, 'cardapproval_events_published_total', '') >= 4,
    { what: 'metrics to catch up' },
  );
  expect(metricValue(text, 'cardapproval_messages_consumed_total', `topic="${topics.requests.LOCK_CARD}",outcome="applied"`)).toBe(1);
  expect(metricValue(text, 'cardapproval_messages_consumed_total', `topic="${topics.decisions}",outcome="applied"`)).toBe(2);
  expect(metricValue(text, 'cardapproval_messages_consumed_total', `topic="${topics.decisions}",outcome="dead_lettered"`)).toBe(1);
  expect(metricValue(text, 'cardapproval_dead_letters_total', 'reason="UNDECODABLE"')).toBe(1);
  expect(metricValue(text, 'cardapproval_refusals_total', 'code="REQUEST_CLOSED"')).toBe(1);
  expect(metricValue(text, 'cardapproval_transitions_total', 'type="APPROVED"')).toBe(1);
  expect(metricValue(text, 'cardapproval_pending_approvals', 'operation="REQUEST_CARD"')).toBe(1);
  expect(text).toMatch(/cardapproval_oldest_pending_age_seconds\{operation="REQUEST_CARD"\} \d/);
  expect(text).toMatch(/cardapproval_outbox_backlog\{outbox="events"\} 0/);
  expect(text).toMatch(/cardapproval_batch_processing_seconds_count\{?.*\}? [1-9]/);
  expect(text).toMatch(/cardapproval_email_send_seconds_count [1-9]/);
  expect(text).toMatch(new RegExp(`cardapproval_consumer_lag\\{topic="${topics.decisions.replace(/\./g, '\\.')}",partition="\\d"\\} 0`));
});
