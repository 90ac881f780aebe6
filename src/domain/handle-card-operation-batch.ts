// Use case: a batch of valid requests and decisions from Kafka becomes approvals, decisions,
// events and emails, in one transaction (the store's applyBatch, folding with decideBatch); the
// events it may publish at once go to the event relay straight after the commit.
import type { Transition } from './approval';
import { cardKeys } from './card-conflicts';
import { decideBatch, type BatchOutcome, type BatchRules, type InboundMessage } from './decide-batch';
import type { ApprovalRepository, BatchScope, PublishAfterCommit } from './ports';

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
    const { outcome, publishNow } = await approvals.applyBatch(batchScope(messages), (state) => decideBatch(state, messages, now, rules), now);
    publishAfterCommit(publishNow, publishNow.length < outcome.transitions.length);
    return { transitions: outcome.transitions, duplicates: outcome.duplicates, conflicts: outcome.conflicts };
  };
}

/** The requests, decisions, card keys (so two requests for one card never open side by side), deciders and actors a batch touches. */
function batchScope(messages: InboundMessage[]): BatchScope {
  return {
    requestIds: [...new Set(messages.map((m) => (m.kind === 'request' ? m.request.requestId : m.decision.requestId)))],
    decisionIds: messages.flatMap((m) => (m.kind === 'decision' ? [m.decision.decisionId] : [])),
    cardKeys: [...new Set(messages.flatMap((m) => (m.kind === 'request' ? cardKeys(m.request.cards) : [])))],
    deciders: messages.flatMap((m) => (m.kind === 'decision' ? [m.decision.approver] : [])),
    actors: [...new Set(messages.map((m) => (m.kind === 'request' ? m.request.requester.id : m.decision.approver.id)))],
  };
}
