// Writes that are safe to retry: an Idempotency-Key makes a repeated call give its first answer
// and publish nothing new, a key reused for another call 422, and two calls at once one effect.
// That no second event came is seen by a later decision's event arriving after it would have.
import { randomUUID } from 'node:crypto';
import { aPerson, aRequest } from '../support/builders';
import { IdempotencyKeys } from '../../src/data-access/idempotency-keys';
import { mintLocalToken, type Identity } from '../../src/entry-points/http/auth';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';

let harness: Harness;
let base: string;
beforeAll(async () => ({ harness, base } = await startHarnessWithWorker({ AUTH_SECRET: TEST_AUTH_SECRET })));
afterAll(() => harness?.stop());

const tokenFor = (person: { id: string; name: string; email: string }, roles: Identity['roles'] = ['approver']): Promise<string> => mintLocalToken(harness.config.auth, { ...person, roles });

async function post(path: string, token: string, body: unknown, key?: string): Promise<{ status: number; replayed: boolean; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, replayed: res.headers.get('idempotent-replayed') === 'true', body: await res.json() };
}

/** An open request, and its first approver's token. */
async function openRequest(): Promise<{ requestId: string; approver: string; other: string }> {
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  return { requestId: request.requestId, approver: await tokenFor(request.approvers[0]!), other: await tokenFor(request.approvers[1]!) };
}

/**
 * The events of a request's decisions, once a later postponement by `token` is in: a decision
 * published twice would have given its second event (or refusal) before it.
 */
async function decisionEventsThrough(requestId: string, token: string): Promise<string[]> {
  const marker = await post(`/api/requests/${requestId}/decisions`, token, { decision: 'POSTPONED', reason: 'marker' });
  expect(marker.status).toBe(202);
  for (;;) {
    const events = harness.eventsFor(requestId);
    const at = events.findIndex((e) => e.decision?.decisionId === marker.body.decisionId);
    if (at >= 0) return events.slice(0, at).filter((e) => e.decision !== null).map((e) => e.type);
    await harness.waitForEvents(requestId, events.length + 1);
  }
}

describe.each([
  ['a single decision', (requestId: string) => [`/api/requests/${requestId}/decisions`, { decision: 'POSTPONED', reason: 'next week' }] as const],
  ['bulk decisions', (requestId: string) => ['/api/decisions', { decisions: [{ requestId, decision: 'POSTPONED', reason: 'next week' }] }] as const],
])('%s with an Idempotency-Key', (_, callFor) => {
  test('sent twice, then the second gets the first answer and one event is published', async () => {
    const { requestId, approver } = await openRequest();
    const [path, body] = callFor(requestId);
    const key = randomUUID();
    const first = await post(path, approver, body, key);
    const again = await post(path, approver, body, key);
    expect(first.status).toBeLessThan(300);
    expect(again).toEqual({ ...first, replayed: true });
    expect(await decisionEventsThrough(requestId, approver)).toEqual(['POSTPONED']);
  });

  test('sent again with another body, then the second gets 422 and publishes nothing', async () => {
    const { requestId, approver } = await openRequest();
    const [path, body] = callFor(requestId);
    const key = randomUUID();
    expect((await post(path, approver, body, key)).status).toBeLessThan(300);
    const changed = JSON.parse(JSON.stringify(body).replace('next week', 'next month'));
    expect(await post(path, approver, changed, key)).toMatchObject({ status: 422, body: { error: 'IDEMPOTENCY_KEY_REUSED' } });
    expect(await decisionEventsThrough(requestId, approver)).toEqual(['POSTPONED']);
  });

  test('sent twice at once, then one event is published, and the other call gets the same answer or 409 to retry', async () => {
    const { requestId, approver } = await openRequest();
    const [path, body] = callFor(requestId);
    const key = randomUUID();
    const answers = await Promise.all([post(path, approver, body, key), post(path, approver, body, key)]);
    const done = answers.filter((a) => a.status < 300);
    expect(done.length).toBeGreaterThanOrEqual(1);
    for (const a of answers) if (a.status >= 300) expect(a).toMatchObject({ status: 409, body: { error: 'IDEMPOTENCY_IN_PROGRESS' } });
    expect(new Set(done.map((a) => JSON.stringify(a.body))).size).toBe(1);
    expect(await decisionEventsThrough(requestId, approver)).toEqual(['POSTPONED']);
  });
});

test('a key is the caller’s own: another caller with the same key decides for themselves', async () => {
  const { requestId, approver, other } = await openRequest();
  const key = randomUUID();
  const mine = await post(`/api/requests/${requestId}/decisions`, approver, { decision: 'POSTPONED', reason: 'later' }, key);
  const theirs = await post(`/api/requests/${requestId}/decisions`, other, { decision: 'POSTPONED', reason: 'later' }, key);
  expect(theirs.replayed).toBe(false);
  expect(theirs.body.decisionId).not.toBe(mine.body.decisionId);
});

test('a key that is not 1 to 255 visible ASCII characters is a 400 INVALID_HEADER', async () => {
  const { requestId, approver } = await openRequest();
  expect(await post(`/api/requests/${requestId}/decisions`, approver, { decision: 'POSTPONED' }, 'x'.repeat(256))).toMatchObject({ status: 400, body: { error: 'INVALID_HEADER' } });
});

test('a delegation set up twice with one key is one delegation', async () => {
  const approver = aPerson('delegating');
  const token = await tokenFor(approver);
  const body = { delegate: aPerson('stand-in'), endsAt: new Date(Date.now() + 86_400_000).toISOString() };
  const key = randomUUID();
  const first = await post('/api/delegations', token, body, key);
  const again = await post('/api/delegations', token, body, key);
  expect(first.status).toBe(201);
  expect(again).toEqual({ ...first, replayed: true });
  const [{ count }] = await harness.db.query(`SELECT count(*)::int AS count FROM approval_delegations WHERE approver->>'id' = $1`, [approver.id]);
  expect(count).toBe(1);
});

test('expired keys are removed, a small batch at a time, and a removed key may be used anew', async () => {
  const keys = new IdempotencyKeys(harness.db, 1, 120_000);
  const caller = `expiring-${randomUUID()}`;
  for (const key of ['k1', 'k2', 'k3']) expect(await keys.claim(caller, key, 'a call')).toMatchObject({ kind: 'claimed' });
  const left = async (): Promise<number> => (await harness.db.query(`SELECT count(*)::int AS n FROM idempotency_keys WHERE caller_id = $1`, [caller]))[0].n;
  // Other tests' expired keys may be removed too: each round removes at most its batch.
  while ((await left()) > 0) expect(await keys.removeExpired(2)).toBeLessThanOrEqual(2);
  expect(await keys.claim(caller, 'k1', 'another call')).toMatchObject({ kind: 'claimed' });
});

test('when a call published but its worker died before keeping the answer, then the retry takes the key over and gives the same decision, which the worker applies once', async () => {
  const { requestId, approver } = await openRequest();
  const key = randomUUID();
  const first = await post(`/api/requests/${requestId}/decisions`, approver, { decision: 'POSTPONED', reason: 'next week' }, key);
  // As the key would stand had the first call's worker died after publishing: claimed long ago, no answer.
  await harness.db.query(`UPDATE idempotency_keys SET answer_status = NULL, answer_body = NULL, claimed_at = now() - interval '1 hour' WHERE key = $1`, [key]);
  const retried = await post(`/api/requests/${requestId}/decisions`, approver, { decision: 'POSTPONED', reason: 'next week' }, key);
  expect(retried).toEqual({ ...first, replayed: false });
  expect(await decisionEventsThrough(requestId, approver)).toEqual(['POSTPONED']);
});
