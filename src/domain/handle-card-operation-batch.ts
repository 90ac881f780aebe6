// Use case: a batch of valid requests and decisions from Kafka becomes approvals, decisions,
// events and emails, in one transaction.
import type { Transition } from './approval';
import { cardKeys } from './card-conflicts';
import { decideBatch, type BatchOutcome, type BatchRules, type InboundMessage } from './decide-batch';
import type { ApprovalRepository, PublishAfterCommit } from './ports';

export interface HandledBatch {
  transitions: Transition[];
  duplicates: number;
  /** Messages refused as conflicting duplicates (they change nothing): the caller dead-letters them. */
  conflicts: BatchOutcome['conflicts'];
}

export interface BatchHandlerDeps {
  approvals: ApprovalRepository;
  rules: BatchRules;
  publishAfterCommit: PublishAfterCommit;
}

export type HandleCardOperationBatch = (messages: InboundMessage[], now?: number) => Promise<HandledBatch>;

export function handleCardOperationBatch({ approvals, rules, publishAfterCommit }: BatchHandlerDeps): HandleCardOperationBatch {
  return async (messages, now = Date.now()) => {
    const requestIds = [...new Set(messages.map((m) => (m.kind === 'request' ? m.request.requestId : m.decision.requestId)))];
    const decisionIds = messages.flatMap((m) => (m.kind === 'decision' ? [m.decision.decisionId] : []));
    const keys = [...new Set(messages.flatMap((m) => (m.kind === 'request' ? cardKeys(m.request.cards) : [])))];
    const deciders = messages.flatMap((m) => (m.kind === 'decision' ? [m.decision.approver] : []));

    const { outcome, publishNow } = await approvals.inTransaction(async (tx) => {
      // The read comes after the locks, so it sees every earlier transaction on these requests.
      // Card keys are locked too, so two requests for one card never open side by side.
      await tx.lockRequests(requestIds, keys);
      let { state, withUnpublishedEvents } = await tx.load(requestIds, decisionIds, keys, deciders);
      // A pending approval holding one of those cards may be superseded here: it is locked as
      // well, and read again once it is (a decision elsewhere may have closed it meanwhile).
      const holders = [...new Set(state.cardHolders.values())].filter((id) => !requestIds.includes(id));
      if (holders.length > 0) {
        await tx.lockRequests(holders, []);
        ({ state, withUnpublishedEvents } = await tx.load([...requestIds, ...holders], decisionIds, keys, deciders));
      }
      const decided = decideBatch(state, messages, now, rules);
      // This process publishes an event straight after the commit only when its request has no
      // older event still unpublished; otherwise the outbox relay publishes them in order.
      const publishable = decided.transitions.map((t) => t.event).filter((e) => !withUnpublishedEvents.has(e.requestId));
      await tx.save(decided, publishable.map((e) => e.eventId), now);
      return { outcome: decided, publishNow: publishable };
    });

    publishAfterCommit(publishNow, publishNow.length < outcome.transitions.length);
    return { transitions: outcome.transitions, duplicates: outcome.duplicates, conflicts: outcome.conflicts };
  };
}
