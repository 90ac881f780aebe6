// What happens when an approver's decision, or a withdrawal, arrives for a known request.
import {
  decisionDetails,
  emailsTo,
  eventFrom,
  eventIdFor,
  type ApprovalEvent,
  type ApprovalEventType,
  type ApprovalRecord,
  type EmailToSend,
  type RefusalCode,
  type Transition,
} from './approval';
import { eligibleApprovers, refusalFor } from './approval-policy';
import type { ApprovalDecision, ApprovalStatus } from './card-operation';

export type DecisionOutcome =
  | { kind: 'APPLIED'; record: ApprovalRecord; transition: Transition; emails: EmailToSend[] }
  | { kind: 'REFUSED'; code: RefusalCode; transition: Transition };

export function applyDecision(record: ApprovalRecord, decision: ApprovalDecision, now: number, messageIdDomain: string): DecisionOutcome {
  const eventId = eventIdFor.decision(decision);
  const details = decisionDetails(decision);
  const refusal = refusalFor(record, decision);
  if (refusal) {
    const event = eventFrom(record, eventId, 'DECISION_REFUSED', now, { decision: details, refusalCode: refusal.code, message: refusal.message });
    return { kind: 'REFUSED', code: refusal.code, transition: { event, statusBefore: record.status, actor: decision.approver, reason: refusal.message } };
  }

  const base = { ...record, updatedAt: now, version: record.version + 1 };
  const closed = (status: ApprovalStatus): ApprovalRecord => ({ ...base, status, closedAt: now, outcomeDecisionId: decision.decisionId });
  const { next, type, emails } = ((): { next: ApprovalRecord; type: ApprovalEventType; emails: EmailToSend[] } => {
    switch (decision.decision) {
      case 'POSTPONED':
        return { next: { ...base, lastPostponedBy: decision.approver, lastPostponedAt: decision.decidedAt }, type: 'POSTPONED', emails: [] };
      case 'APPROVED':
        return { next: closed('APPROVED'), type: 'APPROVED', emails: emailsTo(eventId, [record.requester], 'request-approved', messageIdDomain) };
      case 'REJECTED':
        return { next: closed('REJECTED'), type: 'REJECTED', emails: emailsTo(eventId, [record.requester], 'request-rejected', messageIdDomain) };
      case 'WITHDRAWN': {
        // The approvers asked need not act any more; the requester hears of it when an operator withdrew.
        const told = [...eligibleApprovers(record, record.approvers), ...(decision.actingAs === 'OPERATOR' ? [record.requester] : [])];
        return { next: closed('CANCELLED'), type: 'CANCELLED', emails: emailsTo(eventId, told, 'request-withdrawn', messageIdDomain) };
      }
    }
  })();
  const message = decision.decision === 'WITHDRAWN' ? `Withdrawn by ${decision.approver.name} (${decision.actingAs.toLowerCase()}).` : null;
  const event = eventFrom(next, eventId, type, now, { decision: details, refusalCode: null, message });
  return {
    kind: 'APPLIED',
    record: next,
    transition: { event, statusBefore: record.status, actor: decision.approver, reason: decision.reason },
    emails,
  };
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
    dueAt: null,
    decision: decisionDetails(decision),
    refusalCode: 'UNKNOWN_REQUEST',
    message,
  };
  return { event, statusBefore: null, actor: decision.approver, reason: message };
}
