// The worker as operators run it: a process that starts, works and stops cleanly on SIGTERM, at
// any moment of its start-up as well as while it runs.
import fs from 'node:fs';
import { createKafka } from '../../src/adapters/kafka/kafka-client';
import { createLogger } from '../../src/libraries/logger';
import { aDecision, aRequest } from '../support/builders';
import { ensureBuilt } from '../support/build';
import { waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';
import { JOINED_GROUP, startWorkerProcess, type WorkerProcess } from '../support/worker-process';

let harness: Harness;
beforeAll(async () => {
  await ensureBuilt();
  harness = await startHarness();
});
afterAll(async () => {
  await harness?.stop();
});

/** The process has run the first lines of its entry file: its signal handlers are installed. */
async function entryFileRuns(worker: WorkerProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const cmdline = fs.readFileSync(`/proc/${worker.child.pid}/cmdline`, 'utf8');
    if (cmdline.startsWith('card-approval-worker')) return;
    if (Date.now() > deadline) throw new Error(`the worker never set its process title (${cmdline})`);
    await new Promise((r) => setImmediate(r));
  }
}

// In start-up order. The database point comes first against a database not yet migrated, so its
// SIGTERM arrives while the migrations run.
const startUpPoints: Array<[string, (worker: WorkerProcess) => Promise<void>]> = [
  ['as soon as its entry file runs, while it loads its modules', entryFileRuns],
  ['while it connects to and migrates its database', (w) => w.logged('"step":"database"')],
  ['while it registers its schema', (w) => w.logged('"step":"schema registry"')],
  ['while it creates its topics', (w) => w.logged('"step":"kafka"')],
  ['while its consumer joins the group', (w) => w.logged('"step":"consumer"')],
  ['once it is in its group', (w) => w.logged(JOINED_GROUP)],
];

test.each(startUpPoints)('when the worker process gets SIGTERM %s, then it exits 0', async (_, reached) => {
  const worker = startWorkerProcess({ ...harness.env, LOG_LEVEL: 'debug' });
  await reached(worker);
  worker.child.kill('SIGTERM');
  expect(await worker.exited).toEqual({ code: 0, signal: null });
  expect(worker.output()).toContain('"signal":"SIGTERM","msg":"shutting down"');
}, 90_000);

test('when the worker process gets SIGTERM immediately after spawn, then it ends without having started anything', async () => {
  const worker = startWorkerProcess(harness.env);
  await new Promise((resolve) => worker.child.once('spawn', resolve));
  worker.child.kill('SIGTERM');
  const { code, signal } = await worker.exited;
  // Before Node has run the entry file's first line (its own bootstrap, some tens of ms) no
  // handler can be installed: the signal's default action ends the process before any of our
  // code ran. From that first line on, the exit is 0.
  if (signal === 'SIGTERM') expect(worker.output()).toBe('');
  else expect(code).toBe(0);
}, 90_000);

test('after SIGTERMs at every point of start-up, the database is fully migrated and no member is left in the group', async () => {
  const [{ applied }] = await harness.db.query(`SELECT count(*)::int AS applied FROM migrations`);
  expect(applied).toBe(harness.db.migrations.length);
  const admin = createKafka(harness.config.kafka, createLogger('silent')).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([harness.config.kafka.groupId]);
    expect(groups[0]?.members).toEqual([]);
  } finally {
    await admin.disconnect();
  }
});

test('when the worker process gets SIGTERM while it works, then it drains, commits and exits 0 within 30 s', async () => {
  const worker = startWorkerProcess({ ...harness.env, LOG_LEVEL: 'info' });
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request, aDecision(request, 'APPROVED'));
  await harness.waitForEvents(request.requestId, 2, 60_000);
  await waitForEmails(request.requester.email, 1);
  // The start-up line names the Node it runs on: the one the project brings (node_modules/.bin/node).
  expect(worker.output()).toMatch(new RegExp(`"node":"${process.version}".*"msg":"worker started"`));
  expect(process.version).toMatch(/^v24\./);
  expect(worker.output()).toContain(`"requestId":"${request.requestId}"`);

  const signalled = Date.now();
  worker.child.kill('SIGTERM');
  expect(await worker.exited).toEqual({ code: 0, signal: null });
  expect(Date.now() - signalled).toBeLessThan(30_000);
  expect(worker.output()).toContain('"signal":"SIGTERM"');

  // Nothing the process did is left half-way: the offsets were committed, so nothing is redone.
  const [{ unsent }] = await harness.db.query(`SELECT count(*)::int AS unsent FROM approval_events WHERE published_at IS NULL`);
  expect(unsent).toBe(0);
}, 90_000);
