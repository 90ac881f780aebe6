// What happens when an approver's vote, a withdrawal or a reassignment arrives for a known request.
import {
  decisionDetails,
  emailsTo,
  eventFrom,
  eventIdFor,
  type ApprovalEvent,
  type ApprovalRecord,
  type EmailTemplate,
  type EmailToSend,
  type RefusalCode,
  type Transition,
} from './approval';
import { eligibleApprovers, refusalFor, samePerson, voterFor, type Delegation } from './approval-policy';
import { awaitedApprovers, castVote, decidedByOneVote, enterStage, progressOf, reassignStages, reassignmentProblem, type Vote } from './approval-votes';
import { takesManyCards, type ApprovalDecision, type ApprovalStatus, type CardOutcome } from './card-operation';

export type DecisionOutcome =
  | { kind: 'APPLIED'; record: ApprovalRecord; transitions: Transition[]; emails: EmailToSend[] }
  | { kind: 'REFUSED'; code: RefusalCode; transition: Transition };

const END_TEMPLATES: Record<'APPROVED' | 'REJECTED' | 'PARTIALLY_APPROVED', EmailTemplate> = {
  APPROVED: 'request-approved',
  REJECTED: 'request-rejected',
  PARTIALLY_APPROVED: 'request-partially-approved',
};

/** How each card of a multi-card request ends: as the per-card outcomes say, else as the request does. */
function cardResultsOf(record: ApprovalRecord, decision: ApprovalDecision, ends: 'APPROVED' | 'REJECTED'): CardOutcome[] {
  if (!takesManyCards(record.operation)) return [];
  return record.cards.map((_, cardIndex) => {
    const named = decision.cardOutcomes.find((o) => o.cardIndex === cardIndex);
    if (named) return { cardIndex, outcome: named.outcome, reason: named.outcome === 'REJECTED' ? named.reason : null };
    return { cardIndex, outcome: ends, reason: ends === 'REJECTED' ? decision.reason : null };
  });
}

/** The end status the card results add up to. */
function endOf(ends: 'APPROVED' | 'REJECTED', cardResults: CardOutcome[]): 'APPROVED' | 'REJECTED' | 'PARTIALLY_APPROVED' {
  if (cardResults.length === 0) return ends;
  if (cardResults.every((c) => c.outcome === 'APPROVED')) return 'APPROVED';
  if (cardResults.every((c) => c.outcome === 'REJECTED')) return 'REJECTED';
  return 'PARTIALLY_APPROVED';
}

export function applyDecision(record: ApprovalRecord, decision: ApprovalDecision, now: number, messageIdDomain: string, delegations: Delegation[] = []): DecisionOutcome {
  const eventId = eventIdFor.decision(decision);
  const refusal = decision.decision === 'REASSIGNED' ? reassignmentProblem(record, decision) : refusalFor(record, decision, delegations, now);
  if (refusal) {
    const event = eventFrom(record, eventId, 'DECISION_REFUSED', now, { decision: decisionDetails(decision), refusalCode: refusal.code, message: refusal.message });
    return { kind: 'REFUSED', code: refusal.code, transition: { event, statusBefore: record.status, actor: decision.approver, reason: refusal.message } };
  }
  const base: ApprovalRecord = { ...record, updatedAt: now, version: record.version + 1 };
  const transitions: Transition[] = [];
  const emails: EmailToSend[] = [];
  /** Each step is an event with its history line; its status before is the previous step's after. */
  const step = (event: ApprovalEvent): void => {
    transitions.push({ event, statusBefore: transitions.at(-1)?.event.status ?? record.status, actor: decision.approver, reason: decision.reason });
  };
  const closed = (rec: ApprovalRecord, status: ApprovalStatus): ApprovalRecord => ({ ...rec, status, closedAt: now, outcomeDecisionId: decision.decisionId });

  if (decision.decision === 'WITHDRAWN') {
    // The approvers asked need not act any more; the requester hears of it when an operator withdrew.
    const next = closed(base, 'CANCELLED');
    const message = `Withdrawn by ${decision.approver.name} (${decision.actingAs.toLowerCase()}).`;
    step(eventFrom(next, eventId, 'CANCELLED', now, { decision: decisionDetails(decision), message }));
    const told = [...awaitedApprovers(record), ...(decision.actingAs === 'OPERATOR' ? [record.requester] : [])];
    return { kind: 'APPLIED', record: next, transitions, emails: emailsTo(eventId, told, 'request-withdrawn', messageIdDomain) };
  }

  if (decision.decision === 'REASSIGNED') {
    const { from, to } = decision.reassign!;
    const next = reassignStages(base, from, to);
    const message = `Reassigned from ${from.name} (${from.id}) to ${to.name} (${to.id}) by ${decision.approver.name}.`;
    step(eventFrom(next, eventId, 'REASSIGNED', now, { decision: decisionDetails(decision), message, progress: progressOf(next) }));
    const newlyAsked = next.approvers.some((p) => samePerson(p, to)) && !record.approvers.some((p) => samePerson(p, to));
    return { kind: 'APPLIED', record: next, transitions, emails: newlyAsked ? emailsTo(eventId, eligibleApprovers(next, [to]), 'approval-requested', messageIdDomain) : [] };
  }

  const voter = voterFor(record, decision.approver, delegations, now);
  const onBehalfOf = 'onBehalfOf' in voter ? voter.onBehalfOf : null;
  const details = decisionDetails(decision, onBehalfOf);
  const delegated = onBehalfOf ? `${decision.approver.name} (${decision.approver.id}) decided for ${onBehalfOf.name} (${onBehalfOf.id}) as their delegate.` : null;

  if (decision.decision === 'POSTPONED') {
    const next = { ...base, lastPostponedBy: decision.approver, lastPostponedAt: decision.decidedAt };
    step(eventFrom(next, eventId, 'POSTPONED', now, { decision: details, message: delegated, progress: progressOf(next) }));
    return { kind: 'APPLIED', record: next, transitions, emails };
  }

  const vote: Vote = { stage: record.stage, approver: decision.approver, onBehalfOf, decision: decision.decision, decisionId: decision.decisionId, decidedAt: decision.decidedAt };
  const { record: voted, effect } = castVote(base, vote);
  const progress = progressOf(voted);
  const oneVote = decidedByOneVote(record);
  if (!oneVote) {
    // More than one vote decides: each vote is an event of its own, before any end it brings.
    const stageText = voted.stages.length > 1 ? `Stage ${progress.stage} of ${progress.stages} (${progress.stageName}): ` : '';
    const advanced = 'nextStage' in effect ? enterStage(voted, effect.nextStage) : voted;
    const message =
      'nextStage' in effect
        ? `${stageText}${progress.approvals} of ${progress.required} approvals; stage ${effect.nextStage + 1} (${advanced.stages[effect.nextStage]!.name}) is asked.`
        : `${stageText}${decision.decision === 'REJECTED' ? 'rejected' : `${progress.approvals} of ${progress.required} approvals`}.`;
    step(eventFrom(advanced, eventId, 'VOTED', now, { decision: details, message: [message, delegated].filter(Boolean).join(' '), progress }));
    if ('nextStage' in effect) {
      emails.push(...emailsTo(eventId, awaitedApprovers(advanced), 'approval-requested', messageIdDomain));
      return { kind: 'APPLIED', record: advanced, transitions, emails };
    }
    if ('waits' in effect) return { kind: 'APPLIED', record: voted, transitions, emails };
  }
  if (!('ends' in effect)) return { kind: 'APPLIED', record: voted, transitions, emails };
  const cardResults = cardResultsOf(voted, decision, effect.ends);
  const status = endOf(effect.ends, cardResults);
  const next = closed({ ...voted, cardResults }, status);
  const endId = oneVote ? eventId : eventIdFor.outcome(decision);
  step(eventFrom(next, endId, status, now, { decision: details, message: oneVote ? delegated : null, progress: progressOf(next) }));
  emails.push(...emailsTo(endId, [record.requester], END_TEMPLATES[status], messageIdDomain));
  return { kind: 'APPLIED', record: next, transitions, emails };
}

/** A decision whose request never arrived within the waiting window. */
export function refuseUnknownRequest(decision: ApprovalDecision, now: number, waitedMs: number): Transition {
  const message = `No request ${decision.requestId} arrived within ${Math.round(waitedMs / 1000)}s of the decision.`;
  const event: ApprovalEvent = {
    eventId: eventIdFor.decision(decision),
    type: 'DECISION_REFUSED',
    requestId: decision.requestId,
    operation: null,
    status: null,
    occurredAt: now,
    requester: null,
    cards: [],
    description: null,
    approvers: [],
    requestedAt: null,
    dueAt: null,
    decision: decisionDetails(decision),
    refusalCode: 'UNKNOWN_REQUEST',
    message,
    progress: null,
    cardResults: [],
  };
  return { event, statusBefore: null, actor: decision.approver, reason: message };
}
