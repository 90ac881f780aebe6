// Who may decide on a request, or withdraw it. All eligibility rules live here, so multi-approver
// policies (all / quorum / sequential) can be added without touching the records.
import type { ApprovalRecord, RefusalCode } from './approval';
import type { ApprovalDecision, CardOperationRequest, Person } from './card-operation';

export interface Refusal {
  code: RefusalCode;
  message: string;
}

const samePerson = (a: Pick<Person, 'id'>, b: Pick<Person, 'id'>): boolean => a.id === b.id;

/** The four-eyes rule: the requester and the holders of the cards may not decide. */
function fourEyesConflict(request: Pick<CardOperationRequest, 'requester' | 'cards'>, approver: Pick<Person, 'id'>): Refusal | null {
  if (samePerson(approver, request.requester)) {
    return { code: 'SELF_APPROVAL', message: 'The requester cannot decide on their own request (four-eyes principle).' };
  }
  if (request.cards.some((card) => samePerson(card.holder, approver))) {
    return { code: 'HOLDER_APPROVAL', message: 'A holder of one of the cards cannot decide on the request.' };
  }
  return null;
}

/** Why `approver` may not decide on `record` now, or null when they may. */
export function approverRefusal(record: ApprovalRecord, approver: Pick<Person, 'id'>): Refusal | null {
  if (record.status !== 'PENDING') {
    return { code: 'REQUEST_CLOSED', message: `The request is already ${record.status.toLowerCase()}; the first final decision wins.` };
  }
  const conflict = fourEyesConflict(record, approver);
  if (conflict) return conflict;
  if (!record.approvers.some((candidate) => samePerson(candidate, approver))) {
    return { code: 'NOT_AN_APPROVER', message: `${approver.id} is not one of the request's approvers.` };
  }
  return null;
}

/** Who may withdraw a request: its requester (same id), an operator, or the upstream system. */
export function withdrawalRefusal(record: ApprovalRecord, who: Pick<ApprovalDecision, 'approver' | 'actingAs'>): Refusal | null {
  if (record.status !== 'PENDING') {
    return { code: 'REQUEST_CLOSED', message: `The request is already ${record.status.toLowerCase()}; only a pending request can be withdrawn.` };
  }
  const allowed = who.actingAs === 'OPERATOR' || who.actingAs === 'UPSTREAM' || (who.actingAs === 'REQUESTER' && samePerson(who.approver, record.requester));
  return allowed ? null : { code: 'WITHDRAWAL_NOT_ALLOWED', message: 'Only the requester, an operator or the upstream system may withdraw a request.' };
}

/** Why `decision` may not be applied to `record`, or null when it may. */
export function refusalFor(record: ApprovalRecord, decision: ApprovalDecision): Refusal | null {
  if (decision.decision === 'WITHDRAWN') return withdrawalRefusal(record, decision);
  const refusal = approverRefusal(record, decision.approver);
  if (refusal) return refusal;
  if (decision.decision === 'REJECTED' && (decision.reason ?? '').trim() === '') {
    return { code: 'REASON_REQUIRED', message: 'A rejection needs a reason.' };
  }
  return null;
}

/** Whom to ask: the request's approvers, else the operation's configured group. */
export function approversFor(request: CardOperationRequest, groups: Partial<Record<string, Person[]>>): Person[] {
  const named = request.approvers.length > 0 ? request.approvers : (groups[request.operation] ?? []);
  const unique = new Map(named.map((p) => [p.id, p]));
  return [...unique.values()];
}

/** Approvers who could actually decide: the requester and card holders cannot (four-eyes). */
export function eligibleApprovers(request: Pick<CardOperationRequest, 'requester' | 'cards'>, approvers: Person[]): Person[] {
  return approvers.filter((p) => fourEyesConflict(request, p) === null);
}
