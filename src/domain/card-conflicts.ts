// At most one pending approval per card. A card is known by its cardId, or by its serial number
// when it has no id; a card with neither has no key and never conflicts. A pending approval
// includes a postponed one. A new request that touches a card with a pending approval follows its
// operation's policy: `refuse` (it is dead-lettered CARD_BUSY, naming the pending request) or
// `supersede` (the pending request ends SUPERSEDED and the new one opens).
import { emailsTo, eventFrom, eventIdFor, type ApprovalRecord, type EmailToSend, type Transition } from './approval';
import { awaitedApprovers } from './approval-votes';
import { OPERATION_FACTS, OPERATIONS, type Card, type Operation } from './card-operation';

export type CardConflictPolicy = 'refuse' | 'supersede';
export const CARD_CONFLICT_POLICIES: readonly CardConflictPolicy[] = ['refuse', 'supersede'];

/**
 * The defaults, by the new request's operation:
 * - DEACTIVATE_CARD and REACTIVATE_CARD supersede: they set the card's state, and the newest
 *   intention about it is the one that should run (deactivate, then reactivate after all);
 * - LOCK_CARD refuses: a lock already waits for approval, and a second one adds nothing;
 * - REQUEST_CARD and REQUEST_MULTIPLE_CARDS refuse: issuing twice for one card is the mistake to stop.
 */
export const DEFAULT_CARD_CONFLICT_POLICY = Object.fromEntries(OPERATIONS.map((op) => [op, OPERATION_FACTS[op].onConflict])) as Record<Operation, CardConflictPolicy>;

/** The conflict keys of a request's cards, without repeats. */
export function cardKeys(cards: Card[]): string[] {
  const keys = cards.map((c) => (c.cardId !== null && c.cardId !== '' ? `id:${c.cardId}` : c.serialNumber !== null && c.serialNumber !== '' ? `serial:${c.serialNumber}` : null));
  return [...new Set(keys.filter((k): k is string => k !== null))];
}

/** A pending approval that a newer request for one of its cards replaces. */
export function supersedeApproval(record: ApprovalRecord, byRequestId: string, now: number, messageIdDomain: string): { record: ApprovalRecord; transition: Transition; emails: EmailToSend[] } {
  const next: ApprovalRecord = { ...record, status: 'SUPERSEDED', closedAt: now, updatedAt: now, version: record.version + 1 };
  const message = `Superseded by request ${byRequestId} for the same card.`;
  const event = eventFrom(next, eventIdFor.superseded(record.requestId), 'SUPERSEDED', now, { decision: null, refusalCode: null, message });
  // The requester, and every approver who was asked: none of them needs to act on it any more.
  const emails = emailsTo(event.eventId, [record.requester, ...awaitedApprovers(record)], 'request-superseded', messageIdDomain);
  return { record: next, transition: { event, statusBefore: record.status, actor: null, reason: message }, emails };
}
