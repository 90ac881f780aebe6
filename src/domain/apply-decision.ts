// What happens when an approver's decision arrives for a known request.
import {
  decisionDetails,
  eventFrom,
  eventIdFor,
  messageIdFor,
  type ApprovalEvent,
  type ApprovalRecord,
  type EmailToSend,
  type RefusalCode,
  type Transition,
} from './approval';
import { refusalFor } from './approval-policy';
import type { ApprovalDecision } from './card-operation';

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
  const next: ApprovalRecord =
    decision.decision === 'POSTPONED'
      ? { ...base, lastPostponedBy: decision.approver, lastPostponedAt: decision.decidedAt }
      : { ...base, status: decision.decision, closedAt: now, outcomeDecisionId: decision.decisionId };
  const event = eventFrom(next, eventId, decision.decision, now, { decision: details, refusalCode: null, message: null });
  const emails: EmailToSend[] =
    decision.decision === 'POSTPONED'
      ? []
      : [
          {
            eventId,
            recipient: record.requester,
            template: decision.decision === 'APPROVED' ? 'request-approved' : 'request-rejected',
            messageId: messageIdFor(eventId, record.requester.email, messageIdDomain),
          },
        ];
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
    decision: decisionDetails(decision),
    refusalCode: 'UNKNOWN_REQUEST',
    message,
  };
  return { event, statusBefore: null, actor: decision.approver, reason: message };
}
