// What happens when a card-operation request arrives for the first time: a pending approval
// record, an OPENED event and one email per approver who can decide.
import { emailsTo, eventFrom, eventIdFor, type ApprovalRecord, type EmailToSend, type Transition } from './approval';
import { distinctPeople } from './approval-policy';
import { awaitedApprovers, approversOfStage, progressOf, type Stage } from './approval-votes';
import type { CardOperationRequest } from './card-operation';

export interface Opened {
  record: ApprovalRecord;
  transition: Transition;
  emails: EmailToSend[];
}

export function openApproval(request: CardOperationRequest, stages: Stage[], now: number, messageIdDomain: string): Opened {
  const record: ApprovalRecord = {
    requestId: request.requestId,
    operation: request.operation,
    status: 'PENDING',
    requester: request.requester,
    cards: request.cards,
    approvers: approversOfStage({ stages, escalatedTo: [] }, 0),
    requestedApprovers: distinctPeople(request.approvers),
    approvalRule: request.approvalRule,
    stages,
    stage: 0,
    votes: [],
    cardResults: [],
    escalatedTo: [],
    description: request.description,
    attributes: request.attributes,
    requestedAt: request.requestedAt,
    openedAt: now,
    updatedAt: now,
    closedAt: null,
    outcomeDecisionId: null,
    lastPostponedBy: null,
    lastPostponedAt: null,
    dueAt: request.dueAt,
    version: 1,
  };
  const event = eventFrom(record, eventIdFor.opened(request.requestId), 'OPENED', now, { progress: progressOf(record) });
  const emails = emailsTo(event.eventId, awaitedApprovers(record), 'approval-requested', messageIdDomain);
  return { record, transition: { event, statusBefore: null, actor: request.requester, reason: null }, emails };
}
