// The operators' CLI, run as a process: list dead letters and replay them after a fix.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { aPerson, aRequest } from '../support/builders';
import { startHarness, type Harness } from '../support/test-worker';

const run = promisify(execFile);
let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness?.stop();
});

const cli = (...args: string[]): Promise<{ stdout: string; stderr: string }> =>
  run(process.execPath, [require.resolve('ts-node/dist/bin'), '--transpile-only', 'src/entry-points/cli/card-approvals.ts', ...args], {
    cwd: path.join(__dirname, '..', '..'),
    env: { ...process.env, ...harness.env },
  });

test('when a request was dead-lettered for want of approvers, then after configuring a group the CLI replays it and it opens', async () => {
  const worker = await harness.startWorker();
  const request = aRequest('LOCK_CARD', { approvers: [] });
  await harness.deadLetterOf(request);
  await worker.stop();

  const listed = await cli('dead-letters', 'list', '--reason', 'NO_APPROVERS');
  expect(listed.stdout).toContain('NO_APPROVERS');
  expect(listed.stdout).toContain(harness.config.topics.requests.LOCK_CARD);
  expect(listed.stdout).toMatch(/1 dead letter\(s\)/);

  // The fix: an approver group for the operation.
  await harness.startWorker({ APPROVER_GROUPS: JSON.stringify({ LOCK_CARD: [aPerson('group-approver')] }) });
  const replayed = await cli('dead-letters', 'replay', '--reason', 'NO_APPROVERS');
  expect(replayed.stdout).toMatch(/replayed \d+:\d+ \(NO_APPROVERS\)/);
  const [opened] = await harness.waitForEvents(request.requestId, 1);
  expect(opened!.type).toBe('OPENED');
}, 90_000);

test('when asked for help or given a bad command, then the CLI explains its usage', async () => {
  expect((await cli('help', 'dead-letters')).stdout).toContain('dead-letters replay');
  await expect(cli('no-such-command')).rejects.toMatchObject({ code: 2 });
});
