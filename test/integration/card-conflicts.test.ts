// At most one pending approval per card, across partitions and workers: a second request for a
// busy card is refused (CARD_BUSY) or supersedes the pending one, by its operation's policy.
import { aCard, aDecision, aRequest } from '../support/builders';
import { waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness();
  // Two workers in one group: the two requests of a pair may land with either.
  await harness.startWorker();
  await harness.startWorker();
});
afterAll(() => harness?.stop());

test('when two locks for one card arrive at once on different partitions, then one opens and the other is dead-lettered CARD_BUSY naming it; once the first is decided, the card takes a new lock', async () => {
  const card = aCard();
  const [a, b] = [aRequest('LOCK_CARD', { cards: [card] }), aRequest('LOCK_CARD', { cards: [card] })];
  await Promise.all([harness.publishRequest(a), harness.publishRequest(b)]);
  const dead = await harness.waitForDeadLetter((d) => d.key === a.requestId || d.key === b.requestId);
  const [refused, opened] = dead.key === a.requestId ? [a, b] : [b, a];
  expect(dead.headers['dlq.reason']).toBe('CARD_BUSY');
  expect(dead.headers['dlq.detail']).toBe(`card id ${card.cardId} (request ${opened.requestId}) already has a pending approval`);
  expect(await harness.record(refused.requestId)).toBeUndefined();
  expect((await harness.waitForEvents(opened.requestId, 1)).map((e) => e.type)).toEqual(['OPENED']);

  await harness.publishDecision(aDecision(opened, 'APPROVED'));
  await harness.waitForEvents(opened.requestId, 2);
  const next = aRequest('LOCK_CARD', { cards: [card] });
  await harness.publishRequest(next);
  expect((await harness.waitForEvents(next.requestId, 1)).map((e) => [e.type, e.status])).toEqual([['OPENED', 'PENDING']]);
});

test('when a reactivation arrives for a card with a pending deactivation, then the deactivation ends SUPERSEDED with its event and "no longer needed" emails, the reactivation opens, and a late decision on the old one is refused', async () => {
  const card = aCard();
  const deactivate = aRequest('DEACTIVATE_CARD', { cards: [card] });
  await harness.publishRequest(deactivate);
  await harness.waitForEvents(deactivate.requestId, 1);
  const reactivate = aRequest('REACTIVATE_CARD', { cards: [card] });
  await harness.publishRequest(reactivate);

  const [, superseded] = await harness.waitForEvents(deactivate.requestId, 2);
  expect(superseded).toMatchObject({ type: 'SUPERSEDED', status: 'SUPERSEDED', message: `Superseded by request ${reactivate.requestId} for the same card.` });
  expect(await harness.record(deactivate.requestId)).toMatchObject({ status: 'SUPERSEDED' });
  expect((await harness.waitForEvents(reactivate.requestId, 1)).map((e) => e.type)).toEqual(['OPENED']);
  for (const person of [deactivate.requester, ...deactivate.approvers]) {
    const emails = await waitForEmails(person.email, person === deactivate.requester ? 1 : 2);
    // A 40-character request id leaves no room for the operation (subject-line.ts).
    expect(emails.map((e) => e.subject)).toContain(`No longer needed (${deactivate.requestId})`);
  }

  await harness.publishDecision(aDecision(deactivate, 'APPROVED'));
  const [, , refused] = await harness.waitForEvents(deactivate.requestId, 3);
  expect(refused).toMatchObject({ type: 'DECISION_REFUSED', refusalCode: 'REQUEST_CLOSED' });
});
