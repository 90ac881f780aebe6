// The approval state machine and policy, as pure functions: no broker, database or SMTP.
import { ANY_RULE } from '../../src/domain/approval-policy';
import { eventIdFor } from '../../src/domain/approval';
import { DEFAULT_TIMER_POLICIES } from '../../src/domain/approval-timers';
import { DEFAULT_CARD_CONFLICT_POLICY } from '../../src/domain/card-conflicts';
import { decideBatch, type BatchOutcome, type BatchRules, type BatchState, type InboundMessage } from '../../src/domain/decide-batch';
import { admitRequest, requestProblems } from '../../src/domain/validate-message';
import { DEFAULT_APPROVAL_POLICIES, samePerson } from '../../src/domain/approval-policy';
import { aDecision, aPerson, aRequest } from '../support/builders';

const NOW = Date.UTC(2026, 10, 25, 12);
const empty = (): BatchState => ({ records: new Map(), knownDecisionIds: new Set(), awaiting: new Map(), cardHolders: new Map(), delegations: [] });
const RULES: BatchRules = { messageIdDomain: 'x.test', cardConflictPolicy: DEFAULT_CARD_CONFLICT_POLICY, timerPolicies: DEFAULT_TIMER_POLICIES };
const req = (request = aRequest()): InboundMessage => ({ kind: 'request', request, stages: [{ name: 'approval', rule: ANY_RULE, approvers: request.approvers }] });
const dec = (d: ReturnType<typeof aDecision>): InboundMessage => ({ kind: 'decision', decision: d });
const eventTypes = (outcome: BatchOutcome): string[] => outcome.transitions.map((t) => t.event.type);

test('a new request opens one pending record with an OPENED event and one email per approver', () => {
  const request = aRequest('LOCK_CARD');
  const changes = decideBatch(empty(), [req(request), req(request)], NOW, RULES);
  expect(changes.opened).toHaveLength(1);
  expect(changes.opened[0]!.status).toBe('PENDING');
  expect(eventTypes(changes)).toEqual(['OPENED']);
  expect(changes.emails.map((e) => e.recipient.id)).toEqual(request.approvers.map((a) => a.id));
  expect(changes.duplicates).toBe(1);
});

test('the requester and card holders listed as approvers are not emailed (they could not decide)', () => {
  const request = aRequest('LOCK_CARD');
  request.approvers.push(request.requester, request.cards[0]!.holder);
  const changes = decideBatch(empty(), [req(request)], NOW, RULES);
  expect(changes.emails).toHaveLength(2);
});

test('event ids are stable: reprocessing the same messages yields the same ids and Message-IDs', () => {
  const request = aRequest();
  const approval = aDecision(request, 'APPROVED');
  const first = decideBatch(empty(), [req(request), dec(approval)], NOW, RULES);
  const again = decideBatch(empty(), [req(request), dec(approval)], NOW + 5000, RULES);
  expect(again.transitions.map((t) => t.event.eventId)).toEqual(first.transitions.map((t) => t.event.eventId));
  expect(again.emails.map((e) => e.messageId)).toEqual(first.emails.map((e) => e.messageId));
  expect(first.transitions[0]!.event.eventId).toBe(eventIdFor.opened(request.requestId));
});

test.each([
  ['APPROVED', 'APPROVED', 1],
  ['REJECTED', 'REJECTED', 1],
  ['POSTPONED', 'PENDING', 0],
] as const)('a %s decision leaves the record %s and emails the requester %i time(s)', (decision, status, requesterEmails) => {
  const request = aRequest();
  const changes = decideBatch(empty(), [req(request), dec(aDecision(request, decision))], NOW, RULES);
  expect(changes.opened[0]!.status).toBe(status);
  expect(changes.emails.filter((e) => e.recipient.id === request.requester.id)).toHaveLength(requesterEmails);
});

test('the first final decision wins; later ones are refused as REQUEST_CLOSED', () => {
  const request = aRequest();
  const changes = decideBatch(
    empty(),
    [req(request), dec(aDecision(request, 'REJECTED')), dec(aDecision(request, 'APPROVED', { approver: request.approvers[1]! }))],
    NOW,
    RULES,
  );
  expect(changes.opened[0]!.status).toBe('REJECTED');
  expect(changes.transitions.map((t) => t.event.refusalCode)).toEqual([null, null, 'REQUEST_CLOSED']);
});

test('a known decision id has no effect at all', () => {
  const request = aRequest();
  const approval = aDecision(request, 'APPROVED');
  const state = empty();
  state.knownDecisionIds.add(approval.decisionId);
  const changes = decideBatch(state, [req(request), dec(approval)], NOW, RULES);
  expect(eventTypes(changes)).toEqual(['OPENED']);
  expect(changes.duplicates).toBe(1);
});

test('a decision ahead of its request waits, then applies when the request arrives in the same batch', () => {
  const request = aRequest();
  const approval = aDecision(request, 'APPROVED');
  const changes = decideBatch(empty(), [dec(approval), req(request)], NOW, RULES);
  expect(changes.decisions).toEqual([expect.objectContaining({ result: 'APPLIED' })]);
  expect(changes.opened[0]!.status).toBe('APPROVED');
});

test('a stored waiting decision applies when its request arrives', () => {
  const request = aRequest();
  const approval = aDecision(request, 'POSTPONED');
  const state = empty();
  state.awaiting.set(request.requestId, [approval]);
  const changes = decideBatch(state, [req(request)], NOW, RULES);
  expect(changes.decisions).toEqual([expect.objectContaining({ result: 'APPLIED' })]);
  expect(eventTypes(changes)).toEqual(['OPENED', 'POSTPONED']);
});

test.each([
  ['a stranger', (r: ReturnType<typeof aRequest>) => aDecision(r, 'APPROVED', { approver: aPerson('stranger') }), 'NOT_AN_APPROVER'],
  ['the requester', (r: ReturnType<typeof aRequest>) => aDecision(r, 'APPROVED', { approver: r.requester }), 'SELF_APPROVAL'],
  ['a card holder', (r: ReturnType<typeof aRequest>) => aDecision(r, 'APPROVED', { approver: r.cards[0]!.holder }), 'HOLDER_APPROVAL'],
  ['a rejection without reason', (r: ReturnType<typeof aRequest>) => aDecision(r, 'REJECTED', { reason: null }), 'REASON_REQUIRED'],
])('%s is refused with %s and the record stays pending', (_, build, code) => {
  const request = aRequest();
  request.approvers.push(request.requester, request.cards[0]!.holder);
  const changes = decideBatch(empty(), [req(request), dec(build(request))], NOW, RULES);
  expect(changes.transitions[1]!.event).toMatchObject({ type: 'DECISION_REFUSED', refusalCode: code, status: 'PENDING' });
  expect(changes.opened[0]!.status).toBe('PENDING');
});

describe('request validation', () => {
  const limits = { maxCardsPerRequest: 3 };
  test('a single-card operation needs exactly one card', () => {
    expect(requestProblems(aRequest('LOCK_CARD', { cards: [] }), 'LOCK_CARD', limits)).toEqual(['LOCK_CARD needs exactly one card, got 0']);
  });
  test('multiple cards are bounded', () => {
    const request = aRequest('REQUEST_MULTIPLE_CARDS');
    request.cards.push(...request.cards);
    expect(requestProblems(request, 'REQUEST_MULTIPLE_CARDS', limits)).toEqual(['REQUEST_MULTIPLE_CARDS needs 1 to 3 cards, got 6']);
  });
  test('the operation must match its topic', () => {
    expect(requestProblems(aRequest('LOCK_CARD'), 'REQUEST_CARD', limits)).toEqual(['operation LOCK_CARD arrived on the REQUEST_CARD topic']);
  });
  test('addresses with CRLF or without a domain are invalid', () => {
    const request = aRequest('LOCK_CARD', { requester: { ...aPerson('r'), email: 'a@b.com\r\nBcc: x@y.z' } });
    expect(requestProblems(request, 'LOCK_CARD', limits)[0]).toMatch(/requester.email .* is not a valid address/);
  });
});

describe('who is one person, and who may approve', () => {
  const policies = (fromRequest: 'allow' | 'deny') => ({ ...DEFAULT_APPROVAL_POLICIES, LOCK_CARD: { ...DEFAULT_APPROVAL_POLICIES.LOCK_CARD, fromRequest } });
  const group = [aPerson('group')];

  test('ids compare case-insensitively, and one email address under two ids is one person', () => {
    const alice = aPerson('alice');
    expect(samePerson(alice, { id: alice.id.toUpperCase(), email: 'other@example.com' })).toBe(true);
    expect(samePerson(alice, { id: 'someone-else', email: alice.email.toUpperCase() })).toBe(true);
    expect(samePerson(alice, aPerson('bob'))).toBe(false);
  });

  test('four-eyes holds for the requester or a holder under another id with the same email', () => {
    const request = aRequest('LOCK_CARD');
    const record = decideBatch(empty(), [req(request)], NOW, RULES).opened[0]!;
    const requesterAgain = { ...request.requester, id: 'requester-alias' };
    const holderAgain = { ...request.cards[0]!.holder, id: 'holder-alias' };
    const outcome = decideBatch({ ...empty(), records: new Map([[record.requestId, { ...record, approvers: [...record.approvers, requesterAgain, holderAgain] }]]) }, [
      dec(aDecision(request, 'APPROVED', { approver: requesterAgain })),
      dec(aDecision(request, 'APPROVED', { approver: holderAgain })),
    ], NOW, RULES);
    expect(outcome.transitions.map((t) => t.event.refusalCode)).toEqual(['SELF_APPROVAL', 'HOLDER_APPROVAL']);
  });

  test('allow (the default): named approvers are asked, the group when none is named; deny: always the group', () => {
    const named = aRequest('LOCK_CARD');
    const unnamed = aRequest('LOCK_CARD', { approvers: [] });
    const rules = (fromRequest: 'allow' | 'deny') => ({ maxCardsPerRequest: 10, approverGroups: { LOCK_CARD: group }, approvalPolicies: policies(fromRequest) });
    const admitted = (request: typeof named, fromRequest: 'allow' | 'deny') => admitRequest(request, 'LOCK_CARD', rules(fromRequest));
    expect(admitted(named, 'allow')).toMatchObject({ admitted: { stages: [{ approvers: named.approvers }] } });
    expect(admitted(unnamed, 'allow')).toMatchObject({ admitted: { stages: [{ approvers: group }] } });
    expect(admitted(named, 'deny')).toMatchObject({ admitted: { stages: [{ approvers: group }] } });
    expect(admitRequest(named, 'LOCK_CARD', { ...rules('deny'), approverGroups: {} })).toEqual({
      rejected: { reason: 'NO_APPROVERS', detail: 'LOCK_CARD takes only its configured group, and none is configured' },
    });
  });

  test('the same person named twice (another id, the same email) is asked once', () => {
    const request = aRequest('LOCK_CARD');
    const twice = { ...request, approvers: [request.approvers[0]!, { ...request.approvers[0]!, id: 'alias' }] };
    expect(admitRequest(twice, 'LOCK_CARD', { maxCardsPerRequest: 10, approverGroups: {}, approvalPolicies: DEFAULT_APPROVAL_POLICIES })).toMatchObject({
      admitted: { stages: [{ approvers: [request.approvers[0]] }] },
    });
  });
});
