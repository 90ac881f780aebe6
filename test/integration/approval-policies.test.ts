// Who decides, end to end on the real stack: ALL, QUORUM 2 of 3 and two SEQUENTIAL stages with
// their emails and events; a delegation and reassignments through the API and the CLI; a
// multi-card request decided per card. Every answer of the API is checked against the OpenAPI
// document the server serves.
import { aDecision, aPerson, aRequest } from '../support/builders';
import type { ApprovalEvent } from '../../src/domain/approval';
import type { CardOperationRequest, Person } from '../../src/domain/card-operation';
import { mintLocalToken, type Identity } from '../../src/entry-points/http/auth';
import { pollUntil } from '../../src/libraries/retry';
import { runCli } from '../support/cli';
import { waitForEmails, type InboxEmail } from '../support/inbox';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';
import { servedSchemaCheck } from '../support/openapi-schema';

// The security stage's people are configured, so each test gives them requests of its own and
// finds its emails by request id.
const security = [aPerson('security'), aPerson('security')];
let harness: Harness;
let base: string;

beforeAll(async () => {
  ({ harness, base } = await startHarnessWithWorker({
    AUTH_SECRET: TEST_AUTH_SECRET,
    APPROVAL_POLICY: JSON.stringify({
      LOCK_CARD: { rule: 'ALL' },
      DEACTIVATE_CARD: { rule: 'QUORUM 2' },
      REACTIVATE_CARD: { stages: [{ name: 'line manager', rule: 'ANY' }, { name: 'security', rule: 'ALL', approvers: security }] },
    }),
  }));
});
afterAll(() => harness?.stop());

const expectSchema = servedSchemaCheck(() => base);

const tokenFor = (person: Person, roles: Identity['roles'] = ['approver']): Promise<string> => mintLocalToken(harness.config.auth, { ...person, roles });

async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const types = (events: ApprovalEvent[]): string[] => events.map((e) => e.type);
const progress = (e: ApprovalEvent | undefined) => e?.progress && `${e.progress.approvals} of ${e.progress.required}`;

/** The emails to `address` about `request`, once there are `count`. */
async function emailsAbout(address: string, request: CardOperationRequest, count: number): Promise<InboxEmail[]> {
  const about = (emails: InboxEmail[]) => emails.filter((e) => e.subject.includes(request.requestId));
  return about(await pollUntil(() => waitForEmails(address, count), (emails) => about(emails).length >= count, { timeoutMs: 30_000, what: `${count} email(s) to ${address} about ${request.requestId}` }));
}

async function opened(request: CardOperationRequest): Promise<CardOperationRequest> {
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  return request;
}

test('ALL: each approver\'s vote is an event with progress (1 of 2, then 2 of 2) before APPROVED, and the requester hears once', async () => {
  const request = await opened(aRequest('LOCK_CARD'));
  const [first, second] = request.approvers;
  for (const approver of request.approvers) expect((await emailsAbout(approver.email, request, 1))[0]!.subject).toMatch(/^Approval needed/);

  await harness.publishDecision(aDecision(request, 'APPROVED', { approver: first! }));
  const afterOne = await harness.waitForEvents(request.requestId, 2);
  expect([afterOne[1]!.type, afterOne[1]!.status, progress(afterOne[1])]).toEqual(['VOTED', 'PENDING', '1 of 2']);

  await harness.publishDecision(aDecision(request, 'APPROVED', { approver: second! }));
  const events = await harness.waitForEvents(request.requestId, 4);
  expect(types(events)).toEqual(['OPENED', 'VOTED', 'VOTED', 'APPROVED']);
  expect(progress(events[2])).toBe('2 of 2');
  expect(events[3]!.decision?.approver.id).toBe(second!.id);
  const [approvedEmail] = await emailsAbout(request.requester.email, request, 1);
  expect(approvedEmail!.subject).toMatch(/^Approved/);
  expect(await harness.record(request.requestId)).toMatchObject({ status: 'APPROVED', votes: [{ approver: { id: first!.id } }, { approver: { id: second!.id } }] });
});

test('QUORUM 2 of 3: a postponement counts as no vote; the second approval ends it; a late vote is refused', async () => {
  const request = await opened(aRequest('DEACTIVATE_CARD', { approvers: [aPerson('approver'), aPerson('approver'), aPerson('approver')] }));
  const [a, b, c] = request.approvers;
  await harness.publishDecision(aDecision(request, 'APPROVED', { approver: a! }));
  await harness.publishDecision(aDecision(request, 'POSTPONED', { approver: c! }));
  await harness.publishDecision(aDecision(request, 'APPROVED', { approver: b! }));
  await harness.publishDecision(aDecision(request, 'APPROVED', { approver: c! }));
  const events = await harness.waitForEvents(request.requestId, 6);
  expect(types(events)).toEqual(['OPENED', 'VOTED', 'POSTPONED', 'VOTED', 'APPROVED', 'DECISION_REFUSED']);
  expect(events.map(progress)).toEqual(['0 of 2', '1 of 2', '1 of 2', '2 of 2', '2 of 2', null]);
  expect(events[5]!.refusalCode).toBe('REQUEST_CLOSED');
  expect((await emailsAbout(request.requester.email, request, 1))[0]!.subject).toMatch(/^Approved/);
});

test('SEQUENTIAL: the line manager approves, then security is emailed and both must approve; a rejection there ends it with the reason', async () => {
  const approved = await opened(aRequest('REACTIVATE_CARD'));
  const rejected = await opened(aRequest('REACTIVATE_CARD'));
  for (const request of [approved, rejected]) {
    await harness.publishDecision(aDecision(request, 'APPROVED', { approver: request.approvers[0]! }));
    const [, advanced] = await harness.waitForEvents(request.requestId, 2);
    expect(advanced).toMatchObject({ type: 'VOTED', message: 'Stage 1 of 2 (line manager): 1 of 1 approvals; stage 2 (security) is asked.' });
    expect(advanced!.approvers.map((p) => p.id)).toEqual(security.map((p) => p.id));
    for (const officer of security) expect((await emailsAbout(officer.email, request, 1))[0]!.subject).toMatch(/^Approval needed/);
  }
  // The line manager's colleague is no longer asked.
  await harness.publishDecision(aDecision(approved, 'APPROVED', { approver: approved.approvers[1]! }));
  await harness.publishDecision(aDecision(approved, 'APPROVED', { approver: security[0]! }));
  await harness.publishDecision(aDecision(approved, 'APPROVED', { approver: security[1]! }));
  const events = await harness.waitForEvents(approved.requestId, 6);
  expect(types(events)).toEqual(['OPENED', 'VOTED', 'DECISION_REFUSED', 'VOTED', 'VOTED', 'APPROVED']);
  expect(events[2]!.refusalCode).toBe('NOT_AN_APPROVER');
  expect(events.slice(3).map((e) => e.progress && [e.progress.stage, e.progress.approvals, e.progress.required])).toEqual([[2, 1, 2], [2, 2, 2], [2, 2, 2]]);

  await harness.publishDecision(aDecision(rejected, 'REJECTED', { approver: security[1]!, reason: 'Card reported stolen' }));
  expect(types(await harness.waitForEvents(rejected.requestId, 4))).toEqual(['OPENED', 'VOTED', 'VOTED', 'REJECTED']);
  const [email] = await emailsAbout(rejected.requester.email, rejected, 1);
  expect(email!.text).toContain('Card reported stolen');
});

test('a delegation: the delegate sees the request, decides for the approver (recorded in the history), and the approver then counts as voted', async () => {
  const request = await opened(aRequest('LOCK_CARD'));
  const [away, colleague] = request.approvers;
  const delegate = aPerson('delegate');
  const set = await call('POST', '/api/delegations', await tokenFor(away!), { delegate, endsAt: new Date(Date.now() + 86_400_000).toISOString() });
  expect(set).toMatchObject({ status: 201, body: { approver: { id: away!.id }, delegate: { id: delegate.id }, createdBy: { id: away!.id }, revokedAt: null } });
  await expectSchema('Delegation', set.body);
  // Only an operator sets one up for someone else.
  const forSomeoneElse = await call('POST', '/api/delegations', await tokenFor(away!), { approver: colleague, delegate, endsAt: new Date(Date.now() + 86_400_000).toISOString() });
  expect(forSomeoneElse).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
  await expectSchema('Error', forSomeoneElse.body);
  // An operator names whom a delegation is for, even one who approves too: it is never the operator's by default.
  for (const roles of [['operator'], ['operator', 'approver']] as const) {
    const unnamed = await call('POST', '/api/delegations', await tokenFor(aPerson('operator'), [...roles]), { delegate, endsAt: new Date(Date.now() + 86_400_000).toISOString() });
    expect(unnamed).toMatchObject({ status: 400, body: { error: 'INVALID_BODY', message: expect.stringContaining('approver') } });
  }

  const asDelegate = await tokenFor(delegate);
  const tasks = await call('GET', '/api/tasks', asDelegate);
  expect(tasks.body.items.map((r: { requestId: string }) => r.requestId)).toContain(request.requestId);
  await expectSchema('Tasks', tasks.body);
  const delegations = await call('GET', '/api/delegations', asDelegate);
  expect(delegations.body.items.map((d: { delegationId: string }) => d.delegationId)).toContain(set.body.delegationId);
  await expectSchema('Delegations', delegations.body);
  const decided = await call('POST', `/api/requests/${request.requestId}/decisions`, asDelegate, { decision: 'APPROVED' });
  expect(decided).toMatchObject({ status: 202 });
  await expectSchema('DecisionAccepted', decided.body);
  const [, voted] = await harness.waitForEvents(request.requestId, 2);
  expect(voted).toMatchObject({ type: 'VOTED', decision: { approver: { id: delegate.id }, onBehalfOf: { id: away!.id } } });

  // The approver is back: their part is taken, so the API says so at once.
  const again = await call('POST', `/api/requests/${request.requestId}/decisions`, await tokenFor(away!), { decision: 'APPROVED' });
  expect(again).toMatchObject({ status: 409, body: { error: 'ALREADY_VOTED' } });
  await expectSchema('Error', again.body);
  await harness.publishDecision(aDecision(request, 'APPROVED', { approver: colleague! }));
  expect(types(await harness.waitForEvents(request.requestId, 4))).toEqual(['OPENED', 'VOTED', 'VOTED', 'APPROVED']);
  const { body } = await call('GET', `/api/requests/${request.requestId}`, await tokenFor(away!));
  expect(body.history[1]).toMatchObject({ type: 'VOTED', actor: { id: delegate.id }, message: expect.stringContaining(`decided for ${away!.name}`) });
  await expectSchema('RequestWithHistory', body);

  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toMatch(/^cardapproval_delegated_decisions_total [1-9]/m);
  expect(metrics).toMatch(/^cardapproval_votes_total [1-9]/m);

  // Only its approver (or an operator) revokes it. Revoked, it gives nothing more (and stays in the list, with who revoked it).
  expect(await call('DELETE', `/api/delegations/${set.body.delegationId}`, asDelegate)).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
  const revoked = await call('DELETE', `/api/delegations/${set.body.delegationId}`, await tokenFor(away!));
  expect(revoked).toMatchObject({ status: 200, body: { revoked: true } });
  await expectSchema('RevokedDelegation', revoked.body);
  const later = await opened(aRequest('LOCK_CARD', { approvers: [away!, colleague!] }));
  expect(await call('POST', `/api/requests/${later.requestId}/decisions`, asDelegate, { decision: 'APPROVED' })).toMatchObject({ status: 403 });
});

test('reassignment: an operator moves one request through the API, and all of an approver\'s open requests through the CLI', async () => {
  const operator = await tokenFor(aPerson('operator'), ['operator']);
  const leaving = aPerson('leaving');
  const successor = aPerson('successor');
  const one = await opened(aRequest('LOCK_CARD'));
  const [from] = one.approvers;
  const byApprover = await call('POST', `/api/requests/${one.requestId}/reassign`, await tokenFor(from!), { from: from!.id, to: successor });
  expect(byApprover).toMatchObject({ status: 403, body: { error: 'REASSIGNMENT_NOT_ALLOWED' } });
  await expectSchema('Error', byApprover.body);
  expect(await call('POST', `/api/requests/${one.requestId}/reassign`, operator, { from: from!.id, to: one.requester })).toMatchObject({ status: 403, body: { error: 'SELF_APPROVAL' } });
  const reassigned = await call('POST', `/api/requests/${one.requestId}/reassign`, operator, { from: from!.id, to: successor });
  expect(reassigned).toMatchObject({ status: 202 });
  await expectSchema('DecisionAccepted', reassigned.body);
  // Someone with no open request: nothing to move.
  const nothing = await call('POST', '/api/reassignments', operator, { from: aPerson('idle').id, to: successor });
  expect(nothing).toMatchObject({ status: 200, body: { reassigned: [], refused: [], more: false } });
  await expectSchema('ReassignmentResult', nothing.body);
  const [, moved] = await harness.waitForEvents(one.requestId, 2);
  expect(moved).toMatchObject({ type: 'REASSIGNED', decision: { actingAs: 'OPERATOR', reassign: { from: { id: from!.id }, to: { id: successor.id } } } });
  expect(moved!.approvers.map((p) => p.id)).toEqual([one.approvers[1]!.id, successor.id]);
  expect((await emailsAbout(successor.email, one, 1))[0]!.subject).toMatch(/^Approval needed/);

  const open = [await opened(aRequest('LOCK_CARD', { approvers: [leaving, aPerson('approver')] })), await opened(aRequest('DEACTIVATE_CARD', { approvers: [leaving, aPerson('approver'), aPerson('approver')] }))];
  const cli = await runCli({ ...harness.env, CARD_APPROVALS_API_URL: base, CARD_APPROVALS_TOKEN: operator }, 'reassign', '--all', '--from', leaving.id, '--to-id', successor.id, '--to-name', successor.name, '--to-email', successor.email);
  expect(cli.stdout.trim().split('\n').sort()).toEqual(open.map((r) => r.requestId).sort());
  expect(cli.stderr).toContain(`2 request(s) reassigned from ${leaving.id} to ${successor.id}`);
  for (const request of open) {
    const [, reassigned] = await harness.waitForEvents(request.requestId, 2);
    expect(reassigned!.type).toBe('REASSIGNED');
    await harness.publishDecision(aDecision(request, 'APPROVED', { approver: leaving }));
    const [, , refused] = await harness.waitForEvents(request.requestId, 3);
    expect(refused!.refusalCode).toBe('NOT_AN_APPROVER');
  }
});

test('per-card decisions: an approver approves two cards and rejects the third; the request ends PARTIALLY_APPROVED and the requester\'s email lists each card', async () => {
  const request = await opened(aRequest('REQUEST_MULTIPLE_CARDS'));
  const approver = await tokenFor(request.approvers[0]!);
  const invalid = await call('POST', `/api/requests/${request.requestId}/decisions`, approver, { decision: 'APPROVED', cards: [{ cardIndex: 7, decision: 'REJECTED', reason: 'x' }] });
  expect(invalid).toMatchObject({ status: 400, body: { error: 'CARD_OUTCOMES_INVALID' } });
  await expectSchema('Error', invalid.body);
  const accepted = await call('POST', `/api/requests/${request.requestId}/decisions`, approver, { decision: 'APPROVED', cards: [{ cardIndex: 2, decision: 'REJECTED', reason: 'Already holds a parking card' }] });
  expect(accepted.status).toBe(202);
  const [, ended] = await harness.waitForEvents(request.requestId, 2);
  expect(ended).toMatchObject({ type: 'PARTIALLY_APPROVED', status: 'PARTIALLY_APPROVED' });
  expect(ended!.cardResults).toEqual([
    { cardIndex: 0, outcome: 'APPROVED', reason: null },
    { cardIndex: 1, outcome: 'APPROVED', reason: null },
    { cardIndex: 2, outcome: 'REJECTED', reason: 'Already holds a parking card' },
  ]);
  const [email] = await emailsAbout(request.requester.email, request, 1);
  expect(email!.subject).toMatch(/^Partly approved/);
  expect(email!.text).toContain('2 of 3 cards approved');
  expect(email!.text).toMatch(new RegExp(`3\\. ${request.cards[2]!.cardId}.*: Rejected \\(Already holds a parking card\\)`));
  expect(await harness.record(request.requestId)).toMatchObject({ status: 'PARTIALLY_APPROVED', card_results: ended!.cardResults });
  const { body } = await call('GET', `/api/requests/${request.requestId}`, approver);
  expect(body.record).toMatchObject({ status: 'PARTIALLY_APPROVED', cardResults: ended!.cardResults });
  await expectSchema('RequestWithHistory', body);
});

test('calls nobody wrote a rule for get a 4xx with a code, never a 500, and change nothing', async () => {
  const request = await opened(aRequest('REQUEST_MULTIPLE_CARDS'));
  const approver = await tokenFor(request.approvers[0]!);
  const requester = await tokenFor(request.requester, ['requester']);
  const operator = await tokenFor(aPerson('operator'), ['operator']);
  const until = new Date(Date.now() + 86_400_000).toISOString();
  const tried: Array<[string, string, string, unknown, number, string]> = [
    ['a delegation past year 9999', 'POST', '/api/delegations', { delegate: aPerson('d'), startsAt: '+010000-01-01T00:00:00Z', endsAt: '+010000-06-01T00:00:00Z' }, 400, 'INVALID_BODY'],
    ['a delegation ending "Dec 25 2026"', 'POST', '/api/delegations', { delegate: aPerson('d'), endsAt: 'Dec 25 2026' }, 400, 'INVALID_BODY'],
    ['a delegation ending in an array', 'POST', '/api/delegations', { delegate: aPerson('d'), endsAt: [until] }, 400, 'INVALID_BODY'],
    ['a path that does not decode', 'DELETE', '/api/delegations/%E0%A4%A', undefined, 400, 'INVALID_PATH'],
    ['a request path that does not decode', 'GET', '/api/requests/%E0%A4%A', undefined, 400, 'INVALID_PATH'],
    ['a card index past a 32-bit int', 'POST', `/api/requests/${request.requestId}/decisions`, { decision: 'APPROVED', cards: [{ cardIndex: 2 ** 31, decision: 'APPROVED' }] }, 400, 'CARD_OUTCOMES_INVALID'],
    ['a card with a field of its own', 'POST', `/api/requests/${request.requestId}/decisions`, { decision: 'APPROVED', cards: [{ cardIndex: 0, decision: 'APPROVED', outcome: 'REJECTED' }] }, 400, 'INVALID_BODY'],
    ['cards with a postponement', 'POST', `/api/requests/${request.requestId}/decisions`, { decision: 'POSTPONED', cards: [{ cardIndex: 0, decision: 'REJECTED', reason: 'x' }] }, 400, 'INVALID_BODY'],
  ];
  const asRequester: Array<[string, string, string, unknown, number, string]> = [
    ['cards with a withdrawal', 'POST', `/api/requests/${request.requestId}/decisions`, { decision: 'WITHDRAWN', cards: [{ cardIndex: 2 ** 31, decision: 'APPROVED' }] }, 400, 'INVALID_BODY'],
  ];
  const answers = [
    ...(await Promise.all(tried.map(async ([what, method, path, body]) => [what, await call(method, path, approver, body)] as const))),
    ...(await Promise.all(asRequester.map(async ([what, method, path, body]) => [what, await call(method, path, requester, body)] as const))),
  ];
  expect(answers.map(([what, a]) => [what, a.status, a.body.error])).toEqual([...tried, ...asRequester].map(([what, , , , status, code]) => [what, status, code]));
  const bulk = await call('POST', '/api/decisions', approver, { decisions: [{ requestId: request.requestId, decision: 'APPROVED', cards: [{ cardIndex: 2 ** 31, decision: 'APPROVED' }] }] });
  expect(bulk).toMatchObject({ status: 200, body: { results: [{ status: 400, error: 'CARD_OUTCOMES_INVALID' }] } });
  expect(await call('POST', '/api/reassignments', operator, { from: 'nobody-at-all', to: aPerson('x') })).toMatchObject({ status: 200, body: { reassigned: [], refused: [] } });
  expect(await harness.record(request.requestId)).toMatchObject({ status: 'PENDING', votes: [] });
});

test('under ALL, a voter\'s part cannot be handed on: the API and the worker both refuse, and the other approver is still needed', async () => {
  const request = await opened(aRequest('LOCK_CARD'));
  const [first, second] = request.approvers;
  await harness.publishDecision(aDecision(request, 'APPROVED', { approver: first! }));
  await harness.waitForEvents(request.requestId, 2);
  const operator = await tokenFor(aPerson('operator'), ['operator']);
  expect(await call('POST', `/api/requests/${request.requestId}/reassign`, operator, { from: first!.id, to: aPerson('successor') })).toMatchObject({ status: 409, body: { error: 'ALREADY_VOTED' } });
  // Straight on the topic, as an upstream system might: the worker refuses it too.
  await harness.publishDecision(aDecision(request, 'REASSIGNED', { approver: aPerson('upstream'), actingAs: 'UPSTREAM', reassign: { from: first!, to: aPerson('successor') } }));
  const [, , refused] = await harness.waitForEvents(request.requestId, 3);
  expect(refused).toMatchObject({ type: 'DECISION_REFUSED', refusalCode: 'ALREADY_VOTED' });
  expect(await harness.record(request.requestId)).toMatchObject({ status: 'PENDING' });
});
