// The operators' CLI, run as a process: list dead letters and replay them after a fix; decide
// through the worker's API as the person a token names; and every command on records run with
// nothing but a token and the API's URL.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { aPerson, aRequest } from '../support/builders';
import { runCli, runCliWithOnly } from '../support/cli';
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

test('when the CLI changes something, then it sends an Idempotency-Key: a new one each run, or the one the operator gives to run it again', async () => {
  // An API that answers every decision 202 and keeps what it was sent.
  const seen: Array<string | undefined> = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers['idempotency-key'] as string | undefined);
    res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ decisionId: randomUUID(), requestId: 'req-1', status: 'PUBLISHED', poll: '/api/requests/req-1' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (let run = 0; run < 2; run += 1) await runCliWithOnly({ CARD_APPROVALS_API_URL: api }, 'decide', 'req-1', 'APPROVED');
    await runCliWithOnly({ CARD_APPROVALS_API_URL: api }, 'decide', 'req-1', 'APPROVED', '--idempotency-key', 'the-same-key');
    expect(seen).toEqual([expect.stringMatching(/^[0-9a-f-]{36}$/), expect.stringMatching(/^[0-9a-f-]{36}$/), 'the-same-key']);
    expect(seen[0]).not.toBe(seen[1]);
  } finally {
    server.close();
  }
});

describe('through the API', () => {
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

  test('when an operator runs every command on records with only a token and the API\'s URL in its environment, then each does its work through the API', async () => {
    const operator = await mintLocalToken(api.config.auth, { ...aPerson('operator'), roles: ['operator'] });
    /** The CLI given nothing but the token, the API's URL and PATH: no database, Kafka or registry settings. */
    const only = (extra: Record<string, string>, ...args: string[]) =>
      runCliWithOnly({ PATH: process.env.PATH, CARD_APPROVALS_TOKEN: operator, CARD_APPROVALS_API_URL: base, ...extra }, ...args);
    const cli = (...args: string[]) => only({}, ...args);
    const request = await openRequest();
    const stuck = await openRequest();

    const listed = await cli('requests', 'list', '--q', request.requestId, '--status', 'PENDING');
    expect(listed.stdout).toMatch(new RegExp(`^${request.requestId}  LOCK_CARD +PENDING `, 'm'));
    expect(listed.stdout).toMatch(/^1 of 1$/m);
    // Production asks nothing more of a command on records.
    expect((await only({ NODE_ENV: 'production' }, 'requests', 'list', '--q', request.requestId)).stdout).toContain(request.requestId);

    const shown = JSON.parse((await cli('requests', 'show', request.requestId)).stdout) as { record: unknown; history: unknown[] };
    expect(shown).toMatchObject({ record: { requestId: request.requestId, status: 'PENDING' }, history: [{ type: 'OPENED' }] });

    const [leaving] = request.approvers;
    const successor = aPerson('successor');
    const reassigned = await cli('reassign', request.requestId, '--from', leaving!.id, '--to-id', successor.id, '--to-name', successor.name, '--to-email', successor.email);
    const withdrawn = await cli('decide', request.requestId, 'WITHDRAWN', '--reason', 'No longer needed');
    const [, moved, cancelled] = await api.waitForEvents(request.requestId, 3);
    expect(moved).toMatchObject({ type: 'REASSIGNED', decision: { decisionId: reassigned.stdout.trim() } });
    expect(cancelled).toMatchObject({ type: 'CANCELLED', decision: { decisionId: withdrawn.stdout.trim(), reason: 'No longer needed' } });

    // Its OPENED event parked unpublished, as one the topic refused would be (event-order.test.ts parks one for real).
    const [opened] = await api.waitForEvents(stuck.requestId, 1);
    await api.db.query(`UPDATE approval_events SET published_at = NULL, parked_at = now(), publish_attempts = 5, last_error = 'refused for the test' WHERE event_id = $1`, [opened!.eventId]);
    const events = await cli('events', 'parked');
    expect(events.stdout).toContain(`${opened!.eventId}  OPENED of ${stuck.requestId}  after 5 attempt(s); 0 later event(s) waiting\n    refused for the test`);
    expect(events.stdout).toMatch(/^1 parked event\(s\)$/m);
    expect((await cli('events', 'unpark', '--event', opened!.eventId)).stdout).toBe('1 event(s) back in the queue\n');
    // Published again, with its own eventId (consumers dedupe on it).
    expect((await api.waitForEvents(stuck.requestId, 2)).map((e) => e.eventId)).toEqual([opened!.eventId, opened!.eventId]);

    // Its timers parked, as timers that failed on their own would be (approval-timers.test.ts parks some for real).
    await api.db.query(`UPDATE approval_timers SET parked_at = now(), attempts = 3, last_error = 'refused for the test' WHERE request_id = $1`, [stuck.requestId]);
    const timers = await cli('timers', 'parked');
    expect(timers.stdout).toContain(`${stuck.requestId}  after 3 attempt(s)\n    refused for the test`);
    expect(timers.stdout).toMatch(/^1 parked timer\(s\)$/m);
    const unpark = ['timers', 'unpark', '--request', stuck.requestId, '--idempotency-key', `unpark-${stuck.requestId}`];
    expect((await cli(...unpark)).stdout).toBe('1 timer(s) back; they fire at the next poll\n');
    // Run again with its key (its answer lost, say), it is done once and says what it did.
    expect((await cli(...unpark)).stdout).toBe('1 timer(s) back; they fire at the next poll\n');
    expect((await cli('timers', 'unpark', '--request', stuck.requestId)).stdout).toBe('0 timer(s) back; they fire at the next poll\n');
    expect(await api.db.query('SELECT parked_at, last_error FROM approval_timers WHERE request_id = $1', [stuck.requestId])).toEqual([{ parked_at: null, last_error: null }]);

    // Only operators: an approver's token is refused, and the CLI says so.
    const approver = await mintLocalToken(api.config.auth, { ...stuck.approvers[0]!, roles: ['approver'] });
    await expect(only({ CARD_APPROVALS_TOKEN: approver }, 'events', 'parked')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('403 FORBIDDEN') });
  });

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
