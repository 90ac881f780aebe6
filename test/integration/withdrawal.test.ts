// Requester withdrawal: through Kafka by the upstream system on the requester's behalf, and
// through the API by the requester or an operator. Anyone else is refused with a code, and the
// request stays pending.
import { aDecision, aPerson, aRequest } from '../support/builders';
import { mintLocalToken, type Identity } from '../../src/entry-points/http/auth';
import { waitForEmails } from '../support/inbox';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';

let harness: Harness;
let base: string;
beforeAll(async () => ({ harness, base } = await startHarnessWithWorker({ AUTH_SECRET: TEST_AUTH_SECRET })));
afterAll(() => harness?.stop());

const tokenFor = (person: { id: string; name: string; email: string }, roles: Identity['roles']): Promise<string> => mintLocalToken(harness.config.auth, { ...person, roles });

async function withdraw(requestId: string, token: string, reason?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/api/requests/${encodeURIComponent(requestId)}/decisions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ decision: 'WITHDRAWN', ...(reason ? { reason } : {}) }),
  });
  return { status: res.status, body: await res.json() };
}

async function openRequest(operation: Parameters<typeof aRequest>[0] = 'LOCK_CARD') {
  const request = aRequest(operation);
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  return request;
}

test('when the upstream system withdraws a pending request on the Kafka decisions topic, then it ends CANCELLED, the approvers get "no longer needed", and a later decision is refused', async () => {
  const request = await openRequest();
  await harness.publishDecision(aDecision(request, 'WITHDRAWN', { approver: request.requester, actingAs: 'UPSTREAM', reason: 'Card found' }));
  const [, cancelled] = await harness.waitForEvents(request.requestId, 2);
  expect(cancelled).toMatchObject({ type: 'CANCELLED', status: 'CANCELLED', message: `Withdrawn by ${request.requester.name} (upstream).`, decision: { decision: 'WITHDRAWN', actingAs: 'UPSTREAM' } });
  expect(await harness.record(request.requestId)).toMatchObject({ status: 'CANCELLED' });
  for (const approver of request.approvers) {
    const emails = await waitForEmails(approver.email, 2);
    expect(emails[1]!.subject).toBe(`Withdrawn: Lock card (${request.requestId})`);
    expect(emails[1]!.text).toContain('Reason: Card found');
  }
  const [left] = await harness.db.query(`SELECT count(*)::int AS n FROM approval_timers WHERE request_id = $1`, [request.requestId]);
  expect(left.n).toBe(0);

  await harness.publishDecision(aDecision(request, 'APPROVED'));
  const events = await harness.waitForEvents(request.requestId, 3);
  expect(events[2]).toMatchObject({ type: 'DECISION_REFUSED', refusalCode: 'REQUEST_CLOSED' });
});

test('when the requester withdraws through the API, then it is accepted (202) and the request ends CANCELLED; the requester sees their own request listed', async () => {
  const request = await openRequest('REQUEST_CARD');
  const token = await tokenFor(request.requester, ['requester']);
  const listed = await fetch(`${base}/api/requests?requester=${encodeURIComponent(request.requester.id)}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json() as Promise<{ items: Array<{ requestId: string }> }>);
  expect(listed.items.map((r) => r.requestId)).toEqual([request.requestId]);

  expect(await withdraw(request.requestId, token, 'No longer needed')).toMatchObject({ status: 202 });
  const [, cancelled] = await harness.waitForEvents(request.requestId, 2);
  expect(cancelled).toMatchObject({ type: 'CANCELLED', decision: { actingAs: 'REQUESTER', approver: { id: request.requester.id }, reason: 'No longer needed' } });
  // Withdrawing twice: the request is closed now.
  expect(await withdraw(request.requestId, token)).toMatchObject({ status: 409, body: { error: 'REQUEST_CLOSED' } });
});

test('when an operator withdraws through the API, then the request ends CANCELLED and the requester is told too', async () => {
  const request = await openRequest();
  const operator = aPerson('operator');
  expect(await withdraw(request.requestId, await tokenFor(operator, ['operator']))).toMatchObject({ status: 202 });
  const [, cancelled] = await harness.waitForEvents(request.requestId, 2);
  expect(cancelled).toMatchObject({ type: 'CANCELLED', decision: { actingAs: 'OPERATOR', approver: { id: operator.id } } });
  const [email] = await waitForEmails(request.requester.email, 1);
  expect(email!.subject).toBe(`Withdrawn: Lock card (${request.requestId})`);
});

test('when someone else tries to withdraw — an approver, another requester — then the API refuses with WITHDRAWAL_NOT_ALLOWED, a Kafka withdrawal from them is refused with the same code, and the request stays pending', async () => {
  const request = await openRequest();
  const approver = request.approvers[0]!;
  expect(await withdraw(request.requestId, await tokenFor(approver, ['approver']))).toMatchObject({ status: 403, body: { error: 'WITHDRAWAL_NOT_ALLOWED' } });
  const otherRequester = aPerson('requester');
  // Another requester cannot even see the request.
  expect(await withdraw(request.requestId, await tokenFor(otherRequester, ['requester']))).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });

  await harness.publishDecision(aDecision(request, 'WITHDRAWN', { approver, actingAs: 'APPROVER' }));
  await harness.publishDecision(aDecision(request, 'WITHDRAWN', { approver: otherRequester, actingAs: 'REQUESTER' }));
  const events = await harness.waitForEvents(request.requestId, 3);
  expect(events.slice(1).map((e) => [e.type, e.refusalCode])).toEqual([
    ['DECISION_REFUSED', 'WITHDRAWAL_NOT_ALLOWED'],
    ['DECISION_REFUSED', 'WITHDRAWAL_NOT_ALLOWED'],
  ]);
  expect(await harness.record(request.requestId)).toMatchObject({ status: 'PENDING' });
});
