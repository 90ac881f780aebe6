// Who may decide on a request, or withdraw it. All eligibility rules live here, so multi-approver
// policies (all / quorum / sequential) can be added without touching the records.
import type { ApprovalRecord, RefusalCode } from './approval';
import { OPERATIONS, type ApprovalDecision, type CardOperationRequest, type Operation, type Person } from './card-operation';

/**
 * Each operation's approval policy. `fromRequest`: whether approvers a request names are asked
 * (`allow`, the default: an empty list means the configured group), or only the configured group
 * ever is (`deny`: the names in a request are ignored). Four-eyes and holder checks apply either way.
 */
export interface ApprovalPolicy {
  fromRequest: 'allow' | 'deny';
}
export const DEFAULT_APPROVAL_POLICY: ApprovalPolicy = { fromRequest: 'allow' };
export const DEFAULT_APPROVAL_POLICIES = Object.fromEntries(OPERATIONS.map((op) => [op, DEFAULT_APPROVAL_POLICY])) as Record<Operation, ApprovalPolicy>;

export interface Refusal {
  code: RefusalCode;
  message: string;
}

type Who = Pick<Person, 'id' | 'email'>;

/** One person however written: the same id, or the same email address, case aside (one person under two ids is still one). */
export function samePerson(a: Who, b: Who): boolean {
  return a.id.toLowerCase() === b.id.toLowerCase() || a.email.toLowerCase() === b.email.toLowerCase();
}

/** People without repeats: the first of those who are the same person stays. */
export function distinctPeople<P extends Who>(people: P[]): P[] {
  return people.filter((p, i) => people.findIndex((q) => samePerson(p, q)) === i);
}

/** The four-eyes rule: the requester and the holders of the cards may not decide. */
function fourEyesConflict(request: Pick<CardOperationRequest, 'requester' | 'cards'>, approver: Who): Refusal | null {
  if (samePerson(approver, request.requester)) {
    return { code: 'SELF_APPROVAL', message: 'The requester cannot decide on their own request (four-eyes principle).' };
  }
  if (request.cards.some((card) => samePerson(card.holder, approver))) {
    return { code: 'HOLDER_APPROVAL', message: 'A holder of one of the cards cannot decide on the request.' };
  }
  return null;
}

/** Why `approver` may not decide on `record` now, or null when they may. */
export function approverRefusal(record: ApprovalRecord, approver: Who): Refusal | null {
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

/**
 * Whom to ask: the request's approvers when its operation's policy accepts them and it names any,
 * else the operation's configured group; and whether they came from the request.
 */
export function approversFor(request: CardOperationRequest, groups: Partial<Record<string, Person[]>>, policy: ApprovalPolicy): { approvers: Person[]; fromRequest: boolean } {
  const fromRequest = policy.fromRequest === 'allow' && request.approvers.length > 0;
  return { approvers: distinctPeople(fromRequest ? request.approvers : (groups[request.operation] ?? [])), fromRequest };
}

/** Approvers who could actually decide: the requester and card holders cannot (four-eyes). */
export function eligibleApprovers(request: Pick<CardOperationRequest, 'requester' | 'cards'>, approvers: Person[]): Person[] {
  return approvers.filter((p) => fourEyesConflict(request, p) === null);
}
