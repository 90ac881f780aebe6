// What happens when a card-operation request arrives for the first time: a pending approval
// record, an OPENED event and one email per approver who can decide.
import { emailsTo, eventFrom, eventIdFor, type ApprovalRecord, type EmailToSend, type Transition } from './approval';
import { eligibleApprovers } from './approval-policy';
import type { CardOperationRequest, Person } from './card-operation';

export interface Opened {
  record: ApprovalRecord;
  transition: Transition;
  emails: EmailToSend[];
}

export function openApproval(request: CardOperationRequest, approvers: Person[], now: number, messageIdDomain: string): Opened {
  const record: ApprovalRecord = {
    requestId: request.requestId,
    operation: request.operation,
    status: 'PENDING',
    requester: request.requester,
    cards: request.cards,
    approvers,
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
  const event = eventFrom(record, eventIdFor.opened(request.requestId), 'OPENED', now);
  const emails = emailsTo(event.eventId, eligibleApprovers(request, approvers), 'approval-requested', messageIdDomain);
  return { record, transition: { event, statusBefore: null, actor: request.requester, reason: null }, emails };
}
