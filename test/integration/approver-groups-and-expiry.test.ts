// Configured approver groups, requests nobody can approve, and decisions whose request never comes.
import { aDecision, aPerson, aRequest } from '../support/builders';
import { waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';

const groupMember = aPerson('group-approver');
let harness: Harness;

beforeAll(async () => {
  harness = await startHarness({
    APPROVER_GROUPS: JSON.stringify({ LOCK_CARD: [groupMember] }),
    UNKNOWN_REQUEST_WINDOW_MS: '2000',
  });
  await harness.startWorker();
});

afterAll(async () => {
  await harness?.stop();
});

test('when a request names no approvers, then the group configured for its operation is asked', async () => {
  const request = aRequest('LOCK_CARD', { approvers: [] });
  await harness.publishRequest(request);
  const [opened] = await harness.waitForEvents(request.requestId, 1);
  expect(opened!.approvers.map((a) => a.id)).toEqual([groupMember.id]);
  await waitForEmails(groupMember.email, 1);

  await harness.publishDecision(aDecision(request, 'APPROVED', { approver: groupMember }));
  const events = await harness.waitForEvents(request.requestId, 2);
  expect(events[1]!.type).toBe('APPROVED');
});

test('when a request names no approvers and its operation has no group, then it is dead-lettered as NO_APPROVERS', async () => {
  const request = aRequest('REQUEST_CARD', { approvers: [] });
  const dead = await harness.deadLetterOf(request);
  expect(dead.headers['dlq.reason']).toBe('NO_APPROVERS');
  expect(await harness.record(request.requestId)).toBeUndefined();
});

test('when a decision waits longer than the window for its request, then it is refused with UNKNOWN_REQUEST', async () => {
  const neverSent = aRequest('LOCK_CARD');
  const decision = aDecision(neverSent, 'APPROVED');
  await harness.publishDecision(decision);
  const [refused] = await harness.waitForEvents(neverSent.requestId, 1, 20_000);
  expect(refused).toMatchObject({ type: 'DECISION_REFUSED', refusalCode: 'UNKNOWN_REQUEST', operation: null, status: null });
  expect(refused!.decision?.decisionId).toBe(decision.decisionId);
  const [row] = await harness.db.query('SELECT outcome, refusal_code FROM approval_decisions WHERE decision_id = $1', [decision.decisionId]);
  expect(row).toEqual({ outcome: 'REFUSED', refusal_code: 'UNKNOWN_REQUEST' });
});
