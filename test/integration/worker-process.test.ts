// The worker as operators run it: a process that starts, works and stops cleanly on SIGTERM.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { aDecision, aRequest } from '../support/builders';
import { waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness();
});
afterAll(async () => {
  await harness?.stop();
});

test('when the worker process gets SIGTERM, then it drains, commits and exits 0 within 30 s', async () => {
  const root = path.join(__dirname, '..', '..');
  const child = spawn(process.execPath, [require.resolve('ts-node/dist/bin'), '--transpile-only', 'src/main.ts'], {
    cwd: root,
    env: { ...process.env, ...harness.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  await harness.publishDecision(aDecision(request, 'APPROVED'));
  await harness.waitForEvents(request.requestId, 2, 60_000);
  await waitForEmails(request.requester.email, 1);
  expect(output).toContain('"msg":"worker started"');
  expect(output).toContain(`"requestId":"${request.requestId}"`);

  const signalled = Date.now();
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(Date.now() - signalled).toBeLessThan(30_000);
  expect(output).toContain('"signal":"SIGTERM"');

  // Nothing the process did is left half-way: the offsets were committed, so nothing is redone.
  const [{ unsent }] = await harness.db.query(`SELECT count(*)::int AS unsent FROM approval_events WHERE published_at IS NULL`);
  expect(unsent).toBe(0);
}, 90_000);
