// Who may decide on a request, withdraw it or reassign it: every eligibility rule lives here.
// How many must agree (the vote count) lives in approval-votes.ts.
import type { ApprovalRecord, RefusalCode } from './approval';
import { OPERATIONS, takesManyCards, type ApprovalDecision, type CardOperationRequest, type Operation, type Person, type VoteRule } from './card-operation';

/** The first final decision wins: the built-in rule. */
export const ANY_RULE: VoteRule = { mode: 'ANY', quorum: null };

/** One stage of a policy: who is asked (`request`: the request's approvers or the group) and how many must agree. */
export interface StagePolicy {
  name: string;
  rule: VoteRule;
  approvers: 'request' | Person[];
}

/**
 * Each operation's approval policy.
 * - `fromRequest`: whether approvers a request names are asked (`allow`, the default: an empty list
 *   means the configured group), or only the configured group ever is (`deny`: the names in a
 *   request are ignored). Four-eyes and holder checks apply either way.
 * - `stages`: asked in order, each with its own approvers and rule; one stage for ANY, ALL or QUORUM.
 * - `requestRule`: whether a request may set its own rule (`approvalRule`) over its approvers,
 *   replacing the stages (`allow`), or is refused for trying (`deny`, the default: the stages an
 *   operator configured, a security stage say, are not upstream's to drop).
 */
export interface ApprovalPolicy {
  fromRequest: 'allow' | 'deny';
  stages: StagePolicy[];
  requestRule: 'allow' | 'deny';
}
export const DEFAULT_APPROVAL_POLICY: ApprovalPolicy = { fromRequest: 'allow', stages: [{ name: 'approval', rule: ANY_RULE, approvers: 'request' }], requestRule: 'deny' };
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

/** An approver's stand-in for a period: the delegate decides for them, under the same rules. */
export interface Delegation {
  delegationId: string;
  approver: Person;
  delegate: Person;
  startsAt: number;
  endsAt: number;
}

/** Everyone whose part in the request a person has already taken: who voted, and for whom. */
export function counted(record: Pick<ApprovalRecord, 'votes'>): Person[] {
  return record.votes.flatMap((v) => (v.onBehalfOf ? [v.approver, v.onBehalfOf] : [v.approver]));
}

/**
 * Everyone a record names as an approver, those asked now first: its approvers, every stage's,
 * those escalated to, and who voted (and for whom). Whoever a one-click link was sent to is among
 * them, unless a reassignment has taken their part away.
 */
export function approversNamedBy(record: Pick<ApprovalRecord, 'approvers' | 'stages' | 'escalatedTo' | 'votes'>): Person[] {
  return [...record.approvers, ...record.stages.flatMap((s) => s.approvers), ...record.escalatedTo, ...counted(record)];
}

const closedRefusal = (record: ApprovalRecord): Refusal => ({ code: 'REQUEST_CLOSED', message: `The request is already ${record.status.toLowerCase()}; it takes no more decisions.` });

/**
 * Whether `approver` may vote on `record` now, and for whom: as one of its current approvers, or
 * as the delegate of one (`onBehalfOf`). Four-eyes holds for the delegate and for whom they stand
 * in. A person counts once per request, whoever they act for: a listed approver who is also a
 * delegate votes once, and nobody votes in two stages. Delegations count when in force at `now`.
 */
export function voterFor(record: ApprovalRecord, approver: Who, delegations: Delegation[] = [], now = Number.NaN): { refusal: Refusal } | { onBehalfOf: Person | null } {
  if (record.status !== 'PENDING') return { refusal: closedRefusal(record) };
  const conflict = fourEyesConflict(record, approver);
  if (conflict) return { refusal: conflict };
  const done = counted(record);
  const already: Refusal = { code: 'ALREADY_VOTED', message: `${approver.id} has already voted on this request, in person or for someone; a person counts once.` };
  if (done.some((p) => samePerson(p, approver))) return { refusal: already };
  const later = record.stages.findIndex((s, i) => i > record.stage && s.approvers.some((p) => samePerson(p, approver)));
  if (later >= 0) {
    return { refusal: { code: 'NOT_AN_APPROVER', message: `${approver.id} is asked in stage ${later + 1}; a person approves in one stage only, so not in this one.` } };
  }
  const listed = record.approvers.filter((candidate) => samePerson(candidate, approver));
  if (listed.length > 1) return { refusal: { code: 'NOT_AN_APPROVER', message: `${approver.id} (${approver.email}) matches more than one approver by id or email; decide under one identity.` } };
  if (listed.length === 1) return { onBehalfOf: null };
  const standsIn = delegations
    .filter((d) => samePerson(d.delegate, approver) && d.startsAt <= now && now < d.endsAt)
    .map((d) => record.approvers.find((a) => samePerson(a, d.approver)))
    .filter((p): p is Person => p !== undefined && fourEyesConflict(record, p) === null);
  const open = standsIn.find((p) => !done.some((q) => samePerson(p, q)));
  if (open) return { onBehalfOf: open };
  if (standsIn.length > 0) return { refusal: already };
  return { refusal: { code: 'NOT_AN_APPROVER', message: `${approver.id} is not one of the request's current approvers, nor standing in for one.` } };
}

/** Why `approver` may not decide on `record` now, or null when they may. */
export function approverRefusal(record: ApprovalRecord, approver: Who, delegations: Delegation[] = [], now?: number): Refusal | null {
  const voter = voterFor(record, approver, delegations, now);
  return 'refusal' in voter ? voter.refusal : null;
}

/** Who may withdraw a request: its requester (same id), an operator, or the upstream system. */
export function withdrawalRefusal(record: ApprovalRecord, who: Pick<ApprovalDecision, 'approver' | 'actingAs'>): Refusal | null {
  if (record.status !== 'PENDING') {
    return { code: 'REQUEST_CLOSED', message: `The request is already ${record.status.toLowerCase()}; only a pending request can be withdrawn.` };
  }
  const allowed = who.actingAs === 'OPERATOR' || who.actingAs === 'UPSTREAM' || (who.actingAs === 'REQUESTER' && samePerson(who.approver, record.requester));
  return allowed ? null : { code: 'WITHDRAWAL_NOT_ALLOWED', message: 'Only the requester, an operator or the upstream system may withdraw a request.' };
}

/**
 * Who may reassign: an operator or the upstream system, from a person who still has a part in the
 * request (in this stage or a later one), to someone who may decide it and has not voted on it.
 */
export function reassignmentRefusal(record: ApprovalRecord, decision: ApprovalDecision): Refusal | null {
  if (record.status !== 'PENDING') return closedRefusal(record);
  const { reassign } = decision;
  if (!reassign || (decision.actingAs !== 'OPERATOR' && decision.actingAs !== 'UPSTREAM')) {
    return { code: 'REASSIGNMENT_NOT_ALLOWED', message: 'Only an operator or the upstream system may reassign a request.' };
  }
  if (samePerson(reassign.from, reassign.to)) return { code: 'REASSIGNMENT_NOT_ALLOWED', message: 'A request is reassigned to someone else.' };
  const waiting = record.stages.slice(record.stage).flatMap((s) => s.approvers);
  if (![...waiting, ...record.escalatedTo].some((p) => samePerson(p, reassign.from))) {
    return { code: 'NOT_AN_APPROVER', message: `${reassign.from.id} has no part left in the request to hand over.` };
  }
  const conflict = fourEyesConflict(record, reassign.to);
  if (conflict) return conflict;
  const done = counted(record);
  if (done.some((p) => samePerson(p, reassign.from))) {
    return { code: 'ALREADY_VOTED', message: `${reassign.from.id} has already voted on this request; the vote stands, and there is no part left to hand over.` };
  }
  if (done.some((p) => samePerson(p, reassign.to))) {
    return { code: 'ALREADY_VOTED', message: `${reassign.to.id} has already voted on this request; a person counts once.` };
  }
  const elsewhere = record.stages.findIndex((s, i) => i >= record.stage && s.approvers.some((p) => samePerson(p, reassign.to)) && !s.approvers.some((p) => samePerson(p, reassign.from)));
  if (elsewhere >= 0) return { code: 'REASSIGNMENT_NOT_ALLOWED', message: `${reassign.to.id} is asked in stage ${elsewhere + 1}; a person approves in one stage only.` };
  return null;
}

/** Per-card answers: only on a multi-card request decided by one vote, as an approval naming each card at most once. */
export function cardOutcomesRefusal(record: ApprovalRecord, decision: ApprovalDecision): Refusal | null {
  const outcomes = decision.cardOutcomes;
  if (outcomes.length === 0) return null;
  const singleVote = record.stages.length === 1 && record.stages[0]!.rule.mode === 'ANY';
  if (!takesManyCards(record.operation) || !singleVote || decision.decision !== 'APPROVED') {
    return { code: 'CARD_OUTCOMES_NOT_ALLOWED', message: 'Per-card outcomes come with an approval of a request of several cards (REQUEST_MULTIPLE_CARDS) under the ANY rule.' };
  }
  const indexes = outcomes.map((o) => o.cardIndex);
  const bad = indexes.find((i, at) => !Number.isInteger(i) || i < 0 || i >= record.cards.length || indexes.indexOf(i) !== at);
  if (bad !== undefined) return { code: 'CARD_OUTCOMES_INVALID', message: `Card ${bad} is not one of the request's ${record.cards.length} cards, or is named twice.` };
  if (outcomes.some((o) => o.outcome === 'REJECTED' && (o.reason ?? '').trim() === '')) return { code: 'REASON_REQUIRED', message: 'A rejected card needs a reason.' };
  return null;
}

/** Why `decision` may not be applied to `record`, or null when it may (and for whom a vote counts). */
export function refusalFor(record: ApprovalRecord, decision: ApprovalDecision, delegations: Delegation[] = [], now?: number): Refusal | null {
  if (decision.decision === 'WITHDRAWN') return withdrawalRefusal(record, decision);
  // A reassignment's full check, whether its stages could still complete, is reassignmentProblem (approval-votes.ts).
  if (decision.decision === 'REASSIGNED') return reassignmentRefusal(record, decision);
  const refusal = approverRefusal(record, decision.approver, delegations, now);
  if (refusal) return refusal;
  if (decision.decision === 'REJECTED' && (decision.reason ?? '').trim() === '') {
    return { code: 'REASON_REQUIRED', message: 'A rejection needs a reason.' };
  }
  return cardOutcomesRefusal(record, decision);
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
