// The operators' CLI, run as a process: list dead letters and replay them after a fix, and decide
// through the worker's API as the person a token names.
import { aPerson, aRequest } from '../support/builders';
import { runCli } from '../support/cli';
import { mintLocalToken } from '../../src/entry-points/http/auth';
import type { Person } from '../../src/domain/card-operation';
import { TEST_AUTH_SECRET, startHarness, startHarnessWithWorker, type Harness } from '../support/test-worker';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness();
});

afterAll(async () => {
  await harness?.stop();
});

const cli = (...args: string[]): Promise<{ stdout: string; stderr: string }> => runCli(harness.env, ...args);

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
  expect((await cli('help', 'decide')).stdout).toMatch(/--token JWT.*\n.*through the worker's API/);
  await expect(cli('no-such-command')).rejects.toMatchObject({ code: 2 });
});

describe('decide', () => {
  // A worker of their own, whose API checks tokens signed with the test secret.
  let api: Harness;
  let base: string;
  beforeAll(async () => ({ harness: api, base } = await startHarnessWithWorker({ AUTH_SECRET: TEST_AUTH_SECRET })));
  afterAll(() => api?.stop());

  const tokenFor = (person: Person): Promise<string> => mintLocalToken(api.config.auth, { ...person, roles: ['approver'] });
  /** The CLI pointed at that API; `token` goes in CARD_APPROVALS_TOKEN ('' for none, whatever the caller's environment holds). */
  const decide = (token: string, ...args: string[]) => runCli({ ...api.env, CARD_APPROVALS_API_URL: base, CARD_APPROVALS_TOKEN: token }, 'decide', ...args);

  async function openRequest() {
    const request = aRequest('LOCK_CARD');
    await api.publishRequest(request);
    await api.waitForEvents(request.requestId, 1);
    return request;
  }

  test('when the CLI decides with a token for an approver, then the decision the worker applies is that approver\'s', async () => {
    const request = await openRequest();
    const approver = request.approvers[1]!;

    const { stdout } = await decide(await tokenFor(approver), request.requestId, 'REJECTED', '--reason', 'Badge still in use');

    const decisionId = stdout.trim();
    expect(decisionId).toMatch(/^[0-9a-f-]{36}$/);
    const [, rejected] = await api.waitForEvents(request.requestId, 2);
    expect(rejected).toMatchObject({ type: 'REJECTED', decision: { decisionId, approver: { id: approver.id, email: approver.email }, reason: 'Badge still in use' } });
    expect(await api.record(request.requestId)).toMatchObject({ status: 'REJECTED', outcome_decision_id: decisionId });
  });

  test('when the CLI has no token, or one for someone who is not an approver of the request, then the API refuses, the CLI says why and fails, and nothing is published', async () => {
    const request = await openRequest();

    const noToken = decide('', request.requestId, 'APPROVED');
    await expect(noToken).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('401 TOKEN_MISSING') });
    await expect(noToken).rejects.toMatchObject({ stderr: expect.stringContaining('CARD_APPROVALS_TOKEN') });
    const stranger = decide('', request.requestId, 'APPROVED', '--token', await tokenFor(aPerson('stranger')));
    await expect(stranger).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('403 FORBIDDEN') });
    // Deciding as someone else by naming them is no longer a thing the CLI accepts.
    const approver = request.approvers[0]!;
    await expect(decide('', request.requestId, 'APPROVED', '--id', approver.id, '--name', approver.name, '--email', approver.email)).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('decide takes no --id, --name, --email'),
    });

    // Decisions on a request travel in order on one partition: had a refused call published
    // anything, its event would come before this approval's.
    await decide(await tokenFor(approver), request.requestId, 'APPROVED');
    const events = await api.waitForEvents(request.requestId, 2);
    expect(events.map((e) => [e.type, e.decision?.approver.id ?? null])).toEqual([
      ['OPENED', null],
      ['APPROVED', approver.id],
    ]);
  });
});
