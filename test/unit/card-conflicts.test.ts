import { ANY_RULE } from '../../src/domain/approval-policy';
// At most one pending approval per card, as a pure rule over a batch.
import { DEFAULT_TIMER_POLICIES } from '../../src/domain/approval-timers';
import { DEFAULT_CARD_CONFLICT_POLICY, cardKeys } from '../../src/domain/card-conflicts';
import type { CardOperationRequest, Operation } from '../../src/domain/card-operation';
import { decideBatch, type BatchRules, type BatchState, type InboundMessage } from '../../src/domain/decide-batch';
import { aCard, aDecision, aRequest } from '../support/builders';

const NOW = Date.UTC(2026, 10, 30, 12);
const RULES: BatchRules = { messageIdDomain: 'x.test', cardConflictPolicy: DEFAULT_CARD_CONFLICT_POLICY, timerPolicies: DEFAULT_TIMER_POLICIES };
const empty = (): BatchState => ({ records: new Map(), knownDecisionIds: new Set(), awaiting: new Map(), cardHolders: new Map(), delegations: [] });
const req = (request: CardOperationRequest): InboundMessage => ({ kind: 'request', request, stages: [{ name: 'approval', rule: ANY_RULE, approvers: request.approvers }] });
const forCard = (operation: Operation, card = aCard()): CardOperationRequest => aRequest(operation, { cards: [card] });

test('a card is known by its id, by its serial number when it has no id, and not at all with neither', () => {
  expect(cardKeys([aCard(undefined, { cardId: 'C1', serialNumber: 'S1' }), aCard(undefined, { cardId: null, serialNumber: 'S2' }), aCard(undefined, { cardId: null, serialNumber: null }), aCard(undefined, { cardId: 'C1' })])).toEqual(['id:C1', 'serial:S2']);
});

test('when a lock arrives for a card with a pending lock, then it is refused as CARD_BUSY naming the pending request, and nothing opens', () => {
  const card = aCard();
  const [first, second] = [forCard('LOCK_CARD', card), forCard('LOCK_CARD', card)];
  const outcome = decideBatch(empty(), [req(first), req(second)], NOW, RULES);
  expect(outcome.opened.map((r) => r.requestId)).toEqual([first.requestId]);
  expect(outcome.conflicts).toEqual([{ message: req(second), reason: 'CARD_BUSY', detail: `card id ${card.cardId} (request ${first.requestId}) already has a pending approval` }]);
});

test('when a reactivation arrives for a card with a pending deactivation, then the deactivation ends SUPERSEDED with its event and emails, and the reactivation opens and holds the card', () => {
  const card = aCard();
  const [deactivate, reactivate] = [forCard('DEACTIVATE_CARD', card), forCard('REACTIVATE_CARD', card)];
  const outcome = decideBatch(empty(), [req(deactivate), req(reactivate)], NOW, RULES);
  expect(outcome.transitions.map((t) => `${t.event.type} ${t.event.requestId === deactivate.requestId ? 'old' : 'new'}`)).toEqual(['OPENED old', 'SUPERSEDED old', 'OPENED new']);
  expect(outcome.opened.map((r) => [r.requestId, r.status])).toEqual([[deactivate.requestId, 'SUPERSEDED'], [reactivate.requestId, 'PENDING']]);
  const superseded = outcome.emails.filter((e) => e.template === 'request-superseded').map((e) => e.recipient.id);
  expect(superseded).toEqual([deactivate.requester.id, ...deactivate.approvers.map((a) => a.id)]);
  expect(outcome.cardKeys).toEqual({ held: [{ cardKey: `id:${card.cardId}`, requestId: reactivate.requestId }], freedBy: [deactivate.requestId] });
});

test('when a pending approval is decided, then its card is free for the next request, which opens', () => {
  const card = aCard();
  const [first, second] = [forCard('LOCK_CARD', card), forCard('LOCK_CARD', card)];
  const outcome = decideBatch(empty(), [req(first), { kind: 'decision', decision: aDecision(first, 'APPROVED') }, req(second)], NOW, RULES);
  expect(outcome.conflicts).toEqual([]);
  expect(outcome.opened.map((r) => r.status)).toEqual(['APPROVED', 'PENDING']);
});

test('when a multi-card request touches one busy card, then the whole request follows the policy', () => {
  const busy = aCard();
  const first = forCard('LOCK_CARD', busy);
  const multiple = aRequest('REQUEST_MULTIPLE_CARDS', { cards: [aCard(), busy, aCard()] });
  const outcome = decideBatch(empty(), [req(first), req(multiple)], NOW, RULES);
  expect(outcome.conflicts.map((c) => c.reason)).toEqual(['CARD_BUSY']);
  expect(outcome.opened).toHaveLength(1);
});

test('when the holder of a card is already stored, then a new request meets it through the state the batch loaded', () => {
  const card = aCard();
  const stored = decideBatch(empty(), [req(forCard('DEACTIVATE_CARD', card))], NOW, RULES).opened[0]!;
  const state: BatchState = { ...empty(), records: new Map([[stored.requestId, stored]]), cardHolders: new Map([[`id:${card.cardId}`, stored.requestId]]) };
  const outcome = decideBatch(state, [req(forCard('DEACTIVATE_CARD', card))], NOW + 1000, RULES);
  expect(outcome.changed.map((r) => [r.requestId, r.status])).toEqual([[stored.requestId, 'SUPERSEDED']]);
});
