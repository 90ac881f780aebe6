// Configured approver groups, requests nobody can approve, and decisions whose request never comes.
import { aDecision, aPerson, aRequest } from '../support/builders';
import { emailsTo, waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';

const groupMember = aPerson('group-approver');
let harness: Harness;

beforeAll(async () => {
  harness = await startHarness({
    APPROVER_GROUPS: JSON.stringify({ LOCK_CARD: [groupMember], DEACTIVATE_CARD: [groupMember] }),
    // Deactivations are decided by the configured group only, whoever a request names.
    APPROVAL_POLICY: JSON.stringify({ DEACTIVATE_CARD: { fromRequest: 'deny' } }),
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

test('when an operation takes only its configured group (fromRequest deny), then the approvers a request names are not asked and cannot decide; the group decides', async () => {
  const request = aRequest('DEACTIVATE_CARD');
  await harness.publishRequest(request);
  const [opened] = await harness.waitForEvents(request.requestId, 1);
  expect(opened!.approvers.map((a) => a.id)).toEqual([groupMember.id]);
  await harness.publishDecision(aDecision(request, 'APPROVED'));
  const [, refused] = await harness.waitForEvents(request.requestId, 2);
  expect(refused).toMatchObject({ type: 'DECISION_REFUSED', refusalCode: 'NOT_AN_APPROVER' });
  // A redelivery is still a redelivery: the names it carries were never taken.
  await harness.publishRequest(request);
  // The group member decides under their id written in capitals: one person, case aside.
  await harness.publishDecision(aDecision(request, 'APPROVED', { approver: { ...groupMember, id: groupMember.id.toUpperCase() } }));
  const events = await harness.waitForEvents(request.requestId, 3);
  expect(events[2]).toMatchObject({ type: 'APPROVED' });
  expect(harness.deadLettersSeen().filter((d) => d.key === request.requestId)).toEqual([]);
  expect((await waitForEmails(groupMember.email, 1)).some((e) => e.subject.includes(request.requestId))).toBe(true);
  for (const named of request.approvers) expect((await emailsTo(named.email)).length).toBe(0);
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
