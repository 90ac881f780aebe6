// EVENT_PERSONAL_DATA=ids on the real stack: lifecycles that name many people (a request of
// several cards decided per card, a rejection with its reason, a refusal naming an address, a
// withdrawal, a reassignment, a delegate's approval, a reminder, an escalation and an expiry)
// publish events that carry every person's id and nobody's name or address, decoded or as the
// bytes on the topic; the outbox keeps the whole events.
import { randomUUID } from 'node:crypto';
import { aCard, aDecision, aPerson, aRequest } from '../support/builders';
import type { ApprovalEvent } from '../../src/domain/approval';
import type { CardOperationRequest, Person } from '../../src/domain/card-operation';
import { mintLocalToken } from '../../src/entry-points/http/auth';
import { pollUntil } from '../../src/libraries/retry';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';

const run = randomUUID().slice(0, 6);
const people: Person[] = [];
/** Someone whose name and address appear nowhere else: not in any id, not in one another. */
function someone(role: string): Person {
  const tag = randomUUID().slice(0, 8);
  const person = aPerson(role, { name: `${role[0]!.toUpperCase()}${role.slice(1)} Ödmark-${tag}`, email: `${tag}.${run}@people.example` });
  people.push(person);
  return person;
}

const requester = someone('requester');
const holders = [someone('holder'), someone('holder'), someone('holder')];
const approvers = [someone('approver'), someone('approver')];
const [successor, delegate, operator, upstream] = [someone('successor'), someone('delegate'), someone('operator'), someone('upstream')];
const escalation = [someone('escalation'), someone('escalation')];

let harness: Harness;
let base: string;
beforeAll(async () => {
  ({ harness, base } = await startHarnessWithWorker({
    EVENT_PERSONAL_DATA: 'ids',
    AUTH_SECRET: TEST_AUTH_SECRET,
    APPROVAL_TIMERS: JSON.stringify({ DEACTIVATE_CARD: { remindAfter: '1s', remindIntervalMax: '2s', escalateAfter: '2s', escalateTo: escalation, expireAfter: '6s' } }),
  }));
});
afterAll(() => harness?.stop());

const request = (operation: CardOperationRequest['operation'], cards = [aCard(holders[0]!)]): CardOperationRequest =>
  aRequest(operation, { requester, approvers, cards, description: `For ${holders[0]!.name} <${holders[0]!.email}>, asked by ${requester.name}` });

/** The distinct events of a request once `types` have all been seen; `types` in the order first seen (a reminder may repeat). */
async function eventsOf(r: CardOperationRequest, types: string[]): Promise<ApprovalEvent[]> {
  const distinct = () => [...new Map(harness.eventsFor(r.requestId).map((e) => [e.eventId, e])).values()];
  const seen = await pollUntil(async () => distinct(), (events) => types.every((t) => events.some((e) => e.type === t)), { timeoutMs: 40_000, what: `${types.join(', ')} for ${r.requestId}` });
  expect([...new Set(seen.map((e) => e.type))]).toEqual(types);
  return seen;
}

/** Every Person of an event, wherever the contract puts one. */
const personsOf = (e: ApprovalEvent): Person[] =>
  [e.requester, ...e.cards.map((c) => c.holder), ...e.approvers, e.decision?.approver, e.decision?.onBehalfOf, e.decision?.reassign?.from, e.decision?.reassign?.to].filter((p): p is Person => p != null);

test('when the worker publishes ids only, then no event of a lifecycle naming many people carries a name or an address, decoded or as bytes, and every id is there', async () => {
  const perCard = request('REQUEST_MULTIPLE_CARDS', holders.map((h) => aCard(h)));
  const rejected = request('LOCK_CARD');
  const withdrawn = request('LOCK_CARD');
  const handedOn = request('LOCK_CARD');
  const timed = request('DEACTIVATE_CARD');
  for (const r of [perCard, rejected, withdrawn, handedOn, timed]) await harness.publishRequest(r);
  for (const r of [perCard, rejected, withdrawn, handedOn]) await harness.waitForEvents(r.requestId, 1);

  await harness.publishDecisions(
    aDecision(perCard, 'APPROVED', { approver: approvers[0]!, cardOutcomes: [{ cardIndex: 1, outcome: 'REJECTED', reason: `Not for ${holders[1]!.name} (${holders[1]!.email})` }] }),
    aDecision(rejected, 'REJECTED', { approver: approvers[1]!, reason: `${holders[0]!.name} left; ask ${approvers[0]!.name} at ${approvers[0]!.email}` }),
    // One approver's id with the other's address: refused, the message naming the address.
    aDecision(withdrawn, 'APPROVED', { approver: { ...approvers[0]!, email: approvers[1]!.email } }),
    aDecision(handedOn, 'REASSIGNED', { approver: upstream, actingAs: 'UPSTREAM', reassign: { from: approvers[0]!, to: successor } }),
  );
  await eventsOf(withdrawn, ['OPENED', 'DECISION_REFUSED']);
  await harness.publishDecision(aDecision(withdrawn, 'WITHDRAWN', { approver: operator, actingAs: 'OPERATOR' }));
  await eventsOf(handedOn, ['OPENED', 'REASSIGNED']);
  // The second approver is away: their delegate decides for them.
  const delegation = await fetch(`${base}/api/delegations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await mintLocalToken(harness.config.auth, { ...approvers[1]!, roles: ['approver'] })}`, 'content-type': 'application/json' },
    body: JSON.stringify({ delegate, endsAt: new Date(Date.now() + 86_400_000).toISOString() }),
  });
  expect(delegation.status).toBe(201);
  await harness.publishDecision(aDecision(handedOn, 'APPROVED', { approver: delegate }));

  const lifecycles: Array<[CardOperationRequest, string[]]> = [
    [perCard, ['OPENED', 'PARTIALLY_APPROVED']],
    [rejected, ['OPENED', 'REJECTED']],
    [withdrawn, ['OPENED', 'DECISION_REFUSED', 'CANCELLED']],
    [handedOn, ['OPENED', 'REASSIGNED', 'APPROVED']],
    [timed, ['OPENED', 'REMINDED', 'ESCALATED', 'EXPIRED']],
  ];
  const names = people.flatMap((p) => [p.name, p.email]);
  for (const [r, types] of lifecycles) {
    const events = await eventsOf(r, types);
    // Decoded: no name, no address, nothing people wrote.
    const decoded = JSON.stringify(events);
    for (const term of names) expect({ requestId: r.requestId, term, found: decoded.includes(term) }).toEqual({ requestId: r.requestId, term, found: false });
    expect(decoded).not.toContain('people.example');
    for (const e of events) {
      expect(personsOf(e).map((p) => [p.name, p.email])).toEqual(personsOf(e).map(() => ['', '']));
      expect([e.description, e.decision?.reason ?? null, ...e.cardResults.map((c) => c.reason)]).toEqual([null, null, ...e.cardResults.map(() => null)]);
      expect(e.requester?.id).toBe(requester.id);
      expect(e.cards.map((c) => c.holder.id)).toEqual(r.cards.map((c) => c.holder.id));
    }
    // As bytes on the topic: the same, and each person's id is there.
    const raw = harness.rawEventsFor(r.requestId);
    expect(raw.length).toBeGreaterThanOrEqual(types.length);
    for (const bytes of raw) {
      for (const term of [...names, 'people.example']) expect({ requestId: r.requestId, term, found: bytes.includes(Buffer.from(term)) }).toEqual({ requestId: r.requestId, term, found: false });
      for (const id of [requester.id, ...r.cards.map((c) => c.holder.id)]) expect(bytes.includes(Buffer.from(id))).toBe(true);
    }
  }

  // Who decided, for whom, and whose part went to whom: by id.
  const byType = async (r: CardOperationRequest, types: string[], type: string) => (await eventsOf(r, types)).find((e) => e.type === type)!;
  const reassigned = await byType(handedOn, ['OPENED', 'REASSIGNED', 'APPROVED'], 'REASSIGNED');
  const approved = await byType(handedOn, ['OPENED', 'REASSIGNED', 'APPROVED'], 'APPROVED');
  expect(reassigned.decision).toMatchObject({ approver: { id: upstream.id }, reassign: { from: { id: approvers[0]!.id }, to: { id: successor.id } } });
  expect(reassigned.message).toBe(`Reassigned from ${approvers[0]!.id} (${approvers[0]!.id}) to ${successor.id} (${successor.id}) by ${upstream.id}.`);
  expect(approved.decision).toMatchObject({ approver: { id: delegate.id }, onBehalfOf: { id: approvers[1]!.id } });
  expect(approved.message).toBe(`${delegate.id} (${delegate.id}) decided for ${approvers[1]!.id} (${approvers[1]!.id}) as their delegate.`);
  const escalated = await byType(timed, ['OPENED', 'REMINDED', 'ESCALATED', 'EXPIRED'], 'ESCALATED');
  expect(escalated.approvers.map((p) => p.id)).toEqual([...approvers, ...escalation].map((p) => p.id));
  expect(escalated.message).toBe(`Escalated: also offered to ${escalation.map((p) => p.id).join(', ')}.`);
  const cancelled = await byType(withdrawn, ['OPENED', 'DECISION_REFUSED', 'CANCELLED'], 'CANCELLED');
  expect(cancelled.message).toBe(`Withdrawn by ${operator.id} (operator).`);

  // The outbox keeps the whole events: the emails and the history need them.
  const stored: Array<{ payload: ApprovalEvent }> = await harness.db.query('SELECT payload FROM approval_events WHERE request_id = ANY($1)', [lifecycles.map(([r]) => r.requestId)]);
  const whole = JSON.stringify(stored.map((s) => s.payload));
  for (const term of [requester.name, holders[1]!.email, approvers[0]!.email, delegate.name, successor.name, escalation[0]!.name]) expect(whole).toContain(term);
});
