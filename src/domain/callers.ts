// What a signed-in person may do through the API and the page: see a request, decide on it,
// withdraw it, reassign a part in it, and which requests are their tasks. The same rules the
// worker applies when the decision arrives, answered at once where the API holds the facts; the
// worker checks again. Pure, but for the use case at the end, which reads through a port.
import { randomUUID } from 'node:crypto';
import type { ApprovalRecord } from './approval';
import { approverRefusal, refusalFor, samePerson, type Delegation, type Refusal } from './approval-policy';
import { reassignmentProblem } from './approval-votes';
import type { ActorRole, ApprovalDecision, CardOutcome, DecisionKind, Person } from './card-operation';
import { decisionProblems } from './validate-message';

/** An approver decides, a requester sees and withdraws their own requests, an operator sees and withdraws all. */
export const ROLES = ['approver', 'requester', 'operator'] as const;
export type Role = (typeof ROLES)[number];
export const isRole = (value: unknown): value is Role => (ROLES as readonly unknown[]).includes(value);

/** Who calls, as their token says. */
export interface Identity {
  id: string;
  name: string;
  email: string;
  roles: Role[];
}

/** A refusal the API gives: one the worker would give, or content it would dead-letter. */
export type CallerRefusal = Refusal | { code: 'INVALID_CONTENT'; message: string };

export const personOf = (who: Identity): Person => ({ id: who.id, name: who.name, email: who.email, locale: null });

/** Who sees a request: operators, its current approvers and those standing in for one, and its requester. */
export const canSee = (who: Identity, record: ApprovalRecord, standIns: Delegation[]): boolean =>
  who.roles.includes('operator') ||
  record.approvers.some((a) => samePerson(a, who) || standIns.some((d) => samePerson(d.approver, a))) ||
  samePerson(record.requester, who);

/** In what capacity the caller withdraws: as an operator, or as the request's requester. */
export const withdrawingAs = (who: Identity, record: ApprovalRecord): ActorRole =>
  who.roles.includes('operator') ? 'OPERATOR' : who.roles.includes('requester') && samePerson(record.requester, who) ? 'REQUESTER' : 'APPROVER';

export interface DecisionAsked {
  decision: Exclude<DecisionKind, 'REASSIGNED'>;
  reason: string | null;
  cardOutcomes: CardOutcome[];
}

/**
 * The decision `who` makes on `record` now, with a decision id of its own, or why it is refused:
 * every rule the worker applies when it arrives (four-eyes, holders, a closed request, a person
 * counts once, per-card answers), and a request past its expiry is closed already. What the
 * consumer would dead-letter is refused too.
 */
export function decisionBy(
  record: ApprovalRecord,
  who: Identity,
  asked: DecisionAsked,
  context: { standIns: Delegation[]; /** When its expiry timer fires (null: it has none). */ expiresAt: number | null; now: number; /** The decision's id, when the caller's retry must give the same one. */ decisionId?: string },
): { decision: ApprovalDecision } | { refusal: CallerRefusal } {
  const { standIns, expiresAt, now } = context;
  const actingAs = asked.decision === 'WITHDRAWN' ? withdrawingAs(who, record) : 'APPROVER';
  const decision: ApprovalDecision = { decisionId: context.decisionId ?? randomUUID(), requestId: record.requestId, ...asked, approver: personOf(who), decidedAt: now, actingAs, reassign: null };
  if (record.status === 'PENDING' && expiresAt !== null && expiresAt <= now) return { refusal: { code: 'REQUEST_CLOSED', message: 'The request has expired; it takes no more decisions.' } };
  if (asked.decision !== 'WITHDRAWN' && !who.roles.includes('approver')) {
    return { refusal: { code: 'NOT_AN_APPROVER', message: "Only the request's current approvers, and those standing in for one, may decide." } };
  }
  const refusal = refusalFor(record, decision, standIns, now);
  if (refusal) return { refusal };
  const problems = decisionProblems(decision);
  return problems.length ? { refusal: { code: 'INVALID_CONTENT', message: problems.join('; ') } } : { decision };
}

/** An operator's reassignment of `fromId`'s part in `record` to `to`, or why it is refused (the worker's full check). */
export function reassignmentBy(record: ApprovalRecord, who: Identity, fromId: string, to: Person, now: number, decisionId: string = randomUUID()): { decision: ApprovalDecision } | { refusal: CallerRefusal } {
  if (!who.roles.includes('operator')) return { refusal: { code: 'REASSIGNMENT_NOT_ALLOWED', message: 'Only operators reassign requests.' } };
  const from = [...record.stages.slice(record.stage).flatMap((s) => s.approvers), ...record.escalatedTo].find((p) => p.id.toLowerCase() === fromId.toLowerCase());
  if (!from) return { refusal: { code: 'NOT_AN_APPROVER', message: `${fromId} has no part left in request ${record.requestId}.` } };
  const decision: ApprovalDecision = {
    decisionId,
    requestId: record.requestId,
    decision: 'REASSIGNED',
    approver: personOf(who),
    reason: null,
    decidedAt: now,
    actingAs: 'OPERATOR',
    cardOutcomes: [],
    reassign: { from, to },
  };
  const refusal = reassignmentProblem(record, decision);
  return refusal ? { refusal } : { decision };
}

/** The pending requests that ask any of these people now, oldest first, after a position (the port the tasks list reads through). */
export type PendingReader<P> = (approverIds: string[], limit: number, after: P | undefined) => Promise<Array<{ record: ApprovalRecord; position: P }>>;

/** How many pending requests one tasks call reads at most before it answers with what it found. */
export const TASKS_SCAN_LIMIT = 1000;

/**
 * Use case: one page of the requests this approver may decide on now, oldest first. The store
 * lists the pending requests that name them (or whom they stand in for); the rules (four-eyes, a
 * vote cast) drop some, so a page is read in rounds until it is full. The cursor is the position
 * of the last row read, kept or dropped: the next page starts after it and sees every row once.
 * A call reads at most TASKS_SCAN_LIMIT rows, then answers with fewer items and a cursor: only a
 * null cursor means the end.
 */
export async function tasksOf<P>(read: PendingReader<P>, who: Identity, standIns: Delegation[], limit: number, after: P | undefined, now: number): Promise<{ items: ApprovalRecord[]; next: P | null }> {
  const items: ApprovalRecord[] = [];
  const round = Math.max(limit + 1, 50);
  const asked = [...new Set([who.id, ...standIns.map((d) => d.approver.id)])];
  let position = after;
  for (let seen = 0; seen < TASKS_SCAN_LIMIT; ) {
    const rows = await read(asked, round, position);
    for (const { record, position: at } of rows) {
      if (approverRefusal(record, who, standIns, now) === null) {
        // Another task beyond a full page: there is more, and it starts after the last row read.
        if (items.length === limit) return { items, next: position ?? null };
        items.push(record);
      }
      position = at;
    }
    if (rows.length < round) return { items, next: null };
    seen += rows.length;
  }
  return { items, next: position ?? null };
}
