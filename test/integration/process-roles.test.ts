// Process roles: one process with ROLE=consumer and one with ROLE=relays, on one database and one
// set of topics, do together what one process does. The consumer decides and publishes the
// events; the emails are rendered and sent by the relays process alone, which joins no group.
// Until a relays process runs, the emails wait, and the consumer's metrics say so.
import fs from 'node:fs';
import { pollUntil } from '../../src/libraries/retry';
import { aDecision, aRequest } from '../support/builders';
import { ensureBuilt } from '../support/build';
import { waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';
import { JOINED_GROUP, startWorkerProcess, type WorkerProcess } from '../support/worker-process';

/** What a worker process may use at its peak, as the Kubernetes manifests' memory limit allows. */
const PEAK_RSS_LIMIT_MB = 250;

let harness: Harness;
const processes: WorkerProcess[] = [];
beforeAll(async () => {
  await ensureBuilt();
  harness = await startHarness();
});
afterAll(async () => {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  await Promise.all(processes.map((p) => p.exited));
  await harness?.stop();
});

function start(role: string): WorkerProcess {
  const worker = startWorkerProcess({ ...harness.env, ROLE: role, LOG_LEVEL: 'info' }, harness.logFile);
  processes.push(worker);
  return worker;
}

/** The port a process logged at start-up (HTTP_PORT=0 picks a free one). */
function portOf(worker: WorkerProcess): number {
  const port = /"httpPort":(\d+).*"msg":"worker started"/.exec(worker.output())?.[1];
  if (!port) throw new Error(`no start-up line with a port:\n${worker.output().slice(-2000)}`);
  return Number(port);
}

const metricsOf = async (port: number): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

async function emailsSent(port: number): Promise<number> {
  return Number(/^cardapproval_emails_sent_total (\d+)$/m.exec(await metricsOf(port))?.[1]);
}

/** A gauge's value in a /metrics text (NaN when it is not served). */
const gauge = (text: string, series: string): number => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);

/** The process's peak resident set (VmHWM), in MB. */
function peakRssMb(worker: WorkerProcess): number {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${worker.child.pid}/status`, 'utf8'))?.[1];
  return Math.round(Number(kb) / 1024);
}

test('when a consumer process and a relays process share the database and topics, then the record, the events and every email come, the emails from the relays process alone, which joins no group', async () => {
  const consumer = start('consumer');
  // The consumer joins its group before its last components start: its start-up line comes after.
  await Promise.all([consumer.logged(JOINED_GROUP), consumer.logged('"msg":"worker started"')]);
  const consumerPort = portOf(consumer);

  const request = aRequest('LOCK_CARD');
  const approval = aDecision(request, 'APPROVED');
  await harness.publishRequest(request, approval);

  // No relays process yet: the emails wait, and the consumer, which serves the database's state,
  // reports them due and unsent; each process names its role.
  const waiting = await pollUntil(
    () => metricsOf(consumerPort),
    (text) => gauge(text, 'cardapproval_outbox_backlog{outbox="emails"}') >= 3 && gauge(text, 'cardapproval_emails_overdue_seconds') > 0,
    { timeoutMs: 60_000, what: 'the emails waiting, in the consumer\'s metrics' },
  );
  expect(gauge(waiting, 'cardapproval_worker_info{role="consumer"}')).toBe(1);

  const relays = start('relays');
  await relays.logged('"msg":"worker started"');
  const relaysPort = portOf(relays);

  // The relays process is ready on its database alone, and serves probes and metrics only.
  const ready = await fetch(`http://127.0.0.1:${relaysPort}/health/ready`);
  expect({ status: ready.status, body: await ready.json() }).toEqual({ status: 200, body: { status: 'ready', checks: { database: { ok: true } } } });
  expect((await fetch(`http://127.0.0.1:${relaysPort}/openapi.json`)).status).toBe(404);
  // It names its role, and never serves the database's state: only a consumer reaches the group's lag.
  const relaysMetrics = await metricsOf(relaysPort);
  expect(gauge(relaysMetrics, 'cardapproval_worker_info{role="relays"}')).toBe(1);
  expect(relaysMetrics).not.toMatch(/^cardapproval_state_reporter /m);

  const events = await harness.waitForEvents(request.requestId, 2, 60_000);
  expect(events.map((e) => e.type)).toEqual(['OPENED', 'APPROVED']);
  expect(await harness.record(request.requestId)).toMatchObject({ status: 'APPROVED', outcome_decision_id: approval.decisionId });
  for (const approver of request.approvers) expect(await waitForEmails(approver.email, 1, 60_000)).toHaveLength(1);
  expect(await waitForEmails(request.requester.email, 1, 60_000)).toHaveLength(1);

  // Every email of the outbox was sent, and each by the relays process.
  const sent = await pollUntil(
    async () => {
      const [{ pending, done }] = await harness.db.query(`SELECT count(*) FILTER (WHERE status <> 'SENT')::int AS pending, count(*) FILTER (WHERE status = 'SENT')::int AS done FROM email_outbox`);
      return { pending: pending as number, done: done as number };
    },
    (c) => c.pending === 0 && c.done >= 3,
    { timeoutMs: 30_000, what: 'every email marked sent' },
  );
  expect(await emailsSent(consumerPort)).toBe(0);
  expect(await emailsSent(relaysPort)).toBe(sent.done);
  expect(gauge(await metricsOf(consumerPort), 'cardapproval_emails_overdue_seconds')).toBe(0);
  expect(consumer.output()).not.toMatch(/"component":"email-relay"/);
  expect(relays.output()).not.toContain(JOINED_GROUP);
  expect(relays.output()).not.toMatch(/"component":"event-relay"/);

  const peaks = { consumer: peakRssMb(consumer), relays: peakRssMb(relays) };
  console.info(`peak RSS (VmHWM): consumer ${peaks.consumer} MB, relays ${peaks.relays} MB`);
  expect(peaks.consumer).toBeLessThanOrEqual(PEAK_RSS_LIMIT_MB);
  expect(peaks.relays).toBeLessThanOrEqual(PEAK_RSS_LIMIT_MB);

  for (const p of [consumer, relays]) p.child.kill('SIGTERM');
  expect(await Promise.all([consumer.exited, relays.exited])).toEqual([
    { code: 0, signal: null },
    { code: 0, signal: null },
  ]);
}, 120_000);
