// Use case: a batch of valid requests and decisions from Kafka becomes approvals, decisions,
// events and emails, in one transaction.
import type { Transition } from './approval';
import { decideBatch, type BatchOutcome, type InboundMessage } from './decide-batch';
import type { ApprovalRepository, PublishAfterCommit } from './ports';

export interface HandledBatch {
  transitions: Transition[];
  duplicates: number;
  /** Messages refused as conflicting duplicates (they change nothing): the caller dead-letters them. */
  conflicts: BatchOutcome['conflicts'];
}

export interface BatchHandlerDeps {
  approvals: ApprovalRepository;
  messageIdDomain: string;
  publishAfterCommit: PublishAfterCommit;
}

export type HandleCardOperationBatch = (messages: InboundMessage[], now?: number) => Promise<HandledBatch>;

export function handleCardOperationBatch({ approvals, messageIdDomain, publishAfterCommit }: BatchHandlerDeps): HandleCardOperationBatch {
  return async (messages, now = Date.now()) => {
    const requestIds = [...new Set(messages.map((m) => (m.kind === 'request' ? m.request.requestId : m.decision.requestId)))];
    const decisionIds = messages.flatMap((m) => (m.kind === 'decision' ? [m.decision.decisionId] : []));

    const { outcome, publishNow } = await approvals.inTransaction(async (tx) => {
      // The read comes after the locks, so it sees every earlier transaction on these requests.
      await tx.lockRequests(requestIds);
      const { state, withUnpublishedEvents } = await tx.load(requestIds, decisionIds);
      const decided = decideBatch(state, messages, now, messageIdDomain);
      // This process publishes an event straight after the commit only when its request has no
      // older event still unpublished; otherwise the outbox relay publishes them in order.
      const publishable = decided.transitions.map((t) => t.event).filter((e) => !withUnpublishedEvents.has(e.requestId));
      await tx.save(decided, publishable.map((e) => e.eventId), now);
      return { outcome: decided, publishNow: publishable };
    });

    publishAfterCommit(publishNow);
    return { transitions: outcome.transitions, duplicates: outcome.duplicates, conflicts: outcome.conflicts };
  };
}
