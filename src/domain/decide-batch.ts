// The pure rule for one batch of valid messages: fold them, in order, over the current state of
// the approvals they touch, and say what happened — approvals opened, superseded or refused for a
// busy card, decisions applied, refused or waiting for their request — with the events and emails
// that follow, and the card keys pending approvals now hold.
import type { ApprovalRecord, EmailToSend, RefusalCode, Transition } from './approval';
import { applyDecision } from './apply-decision';
import { distinctPeople, type Delegation } from './approval-policy';
import type { Stage } from './approval-votes';
import { expireApproval, expiryOf, scheduleTimers, type TimerPolicies, type Timers } from './approval-timers';
import { cardKeys, supersedeApproval, type CardConflictPolicy } from './card-conflicts';
import type { ApprovalDecision, CardOperationRequest, Operation } from './card-operation';
import { openApproval } from './open-approval';

export type InboundMessage =
  | { kind: 'request'; request: CardOperationRequest; stages: Stage[] }
  | { kind: 'decision'; decision: ApprovalDecision };

export interface BatchState {
  /** Existing records of the requests the batch mentions. */
  records: Map<string, ApprovalRecord>;
  /** Decisions already stored (any outcome): a redelivery of one has no effect. */
  knownDecisionIds: Set<string>;
  /** Decisions that arrived before their request, by requestId, oldest first. */
  awaiting: Map<string, ApprovalDecision[]>;
  /** The pending approval holding each card key the batch's requests touch (its record is in `records`). */
  cardHolders: Map<string, string>;
  /** Delegations in force to the people who decide in the batch. */
  delegations: Delegation[];
}

export interface BatchRules {
  messageIdDomain: string;
  cardConflictPolicy: Record<Operation, CardConflictPolicy>;
  timerPolicies: TimerPolicies;
}

export type DecisionResult = 'APPLIED' | 'REFUSED' | 'AWAITING_REQUEST';

export interface DecisionTaken {
  decision: ApprovalDecision;
  result: DecisionResult;
  refusalCode: RefusalCode | null;
}

export interface BatchOutcome {
  /** Approvals this batch opened, as they stand after it (a decision in the same batch included). */
  opened: ApprovalRecord[];
  /** Approvals opened earlier that a decision of this batch changed, as they stand after it. */
  changed: ApprovalRecord[];
  /** Every decision of the batch, and decisions that were waiting for a request it opened. */
  decisions: DecisionTaken[];
  /** What happened, in order: each an event and its history line. */
  transitions: Transition[];
  emails: EmailToSend[];
  /** Redeliveries of requests or decisions already handled: they change nothing. */
  duplicates: number;
  /**
   * Requests refused without an effect: a known requestId with other content (an upstream bug),
   * or a card that already has a pending approval under the `refuse` policy.
   */
  conflicts: Array<{ message: InboundMessage; reason: 'CONFLICTING_DUPLICATE' | 'CARD_BUSY'; detail: string }>;
  /** The card keys the approvals this batch touched hold now, and the approvals that closed and free theirs. */
  cardKeys: { held: Array<{ cardKey: string; requestId: string }>; freedBy: string[] };
  /** Timers to store (replacing what a request had), and requests that have none left (closed ones among them). */
  timers: { set: Timers[]; cleared: string[] };
}

/** An outcome with nothing in it, for the use cases (expiry, timers) that fill in only part of one. */
export function emptyOutcome(): BatchOutcome {
  return { opened: [], changed: [], decisions: [], transitions: [], emails: [], duplicates: 0, conflicts: [], cardKeys: { held: [], freedBy: [] }, timers: { set: [], cleared: [] } };
}

/** JSON with object keys sorted, so equal content compares equal whatever order it came in. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );

/**
 * Which fields of a repeated request differ from the approval it opened; empty for a redelivery.
 * Approvers compare as the request named them (records from before that was stored compare
 * without them): the group, escalation and reassignment may have changed who is asked since.
 */
export function differingFields(record: ApprovalRecord, request: CardOperationRequest): string[] {
  const fields: Array<[string, unknown, unknown]> = [
    ['operation', record.operation, request.operation],
    ['requestedAt', record.requestedAt, request.requestedAt],
    ['requester', record.requester, request.requester],
    ['cards', record.cards, request.cards],
    ['description', record.description, request.description],
    ['attributes', record.attributes, request.attributes],
    ['dueAt', record.dueAt, request.dueAt],
    ['approvalRule', record.approvalRule, request.approvalRule],
  ];
  if (record.requestedApprovers !== null) fields.push(['approvers', record.requestedApprovers, distinctPeople(request.approvers)]);
  return fields.filter(([, stored, given]) => canonical(stored) !== canonical(given)).map(([name]) => name);
}

export function decideBatch(state: BatchState, messages: InboundMessage[], now: number, { messageIdDomain, cardConflictPolicy, timerPolicies }: BatchRules): BatchOutcome {
  const records = new Map(state.records);
  const holders = new Map(state.cardHolders);
  const opened = new Set<string>();
  const changed = new Set<string>();
  const seen = new Set(state.knownDecisionIds);
  const decisions = new Map<string, DecisionTaken>();
  const awaiting = new Map(state.awaiting);
  const transitions: Transition[] = [];
  const emails: EmailToSend[] = [];
  let duplicates = 0;
  const conflicts: BatchOutcome['conflicts'] = [];

  /** A closed approval frees its cards. */
  const release = (record: ApprovalRecord): void => {
    for (const k of cardKeys(record.cards)) if (holders.get(k) === record.requestId) holders.delete(k);
  };

  /**
   * A pending approval whose expiry has passed ends EXPIRED before anything else applies to it, so
   * a decision made too late is refused whether or not the timer fired first.
   */
  const expireIfDue = (record: ApprovalRecord): ApprovalRecord => {
    const expireAt = record.status === 'PENDING' ? expiryOf(record, timerPolicies[record.operation]) : null;
    if (expireAt === null || expireAt > now) return record;
    const expired = expireApproval(record, now, messageIdDomain);
    records.set(record.requestId, expired.record);
    release(expired.record);
    if (!opened.has(record.requestId)) changed.add(record.requestId);
    transitions.push(...expired.transitions);
    emails.push(...expired.emails);
    return expired.record;
  };

  const decide = (decision: ApprovalDecision): void => {
    const known = records.get(decision.requestId);
    const record = known && expireIfDue(known);
    if (!record) {
      decisions.set(decision.decisionId, { decision, result: 'AWAITING_REQUEST', refusalCode: null });
      awaiting.set(decision.requestId, [...(awaiting.get(decision.requestId) ?? []), decision]);
      return;
    }
    const outcome = applyDecision(record, decision, now, messageIdDomain, state.delegations);
    if (outcome.kind === 'REFUSED') {
      transitions.push(outcome.transition);
      decisions.set(decision.decisionId, { decision, result: 'REFUSED', refusalCode: outcome.code });
      return;
    }
    transitions.push(...outcome.transitions);
    records.set(decision.requestId, outcome.record);
    if (outcome.record.status !== 'PENDING') release(outcome.record);
    if (!opened.has(decision.requestId)) changed.add(decision.requestId);
    decisions.set(decision.decisionId, { decision, result: 'APPLIED', refusalCode: null });
    emails.push(...outcome.emails);
  };

  /**
   * Whether a new request's cards are free, after its operation's policy is applied to those
   * with a pending approval: refused (CARD_BUSY), or the pending approvals superseded.
   */
  const makeRoomFor = (message: Extract<InboundMessage, { kind: 'request' }>): boolean => {
    const { request } = message;
    const keys = cardKeys(request.cards);
    const pending = [...new Set(keys.map((k) => holders.get(k)))].filter((id): id is string => {
      const holder = id === undefined ? undefined : records.get(id);
      return holder !== undefined && expireIfDue(holder).status === 'PENDING';
    });
    if (pending.length === 0) return true;
    if (cardConflictPolicy[request.operation] === 'refuse') {
      const busy = keys.filter((k) => pending.includes(holders.get(k) ?? '')).map((k) => `${k.replace(/^(id|serial):/, '$1 ')} (request ${holders.get(k)})`);
      conflicts.push({ message, reason: 'CARD_BUSY', detail: `card ${busy.join(', ')} already has a pending approval` });
      return false;
    }
    for (const id of pending) {
      const superseded = supersedeApproval(records.get(id)!, request.requestId, now, messageIdDomain);
      records.set(id, superseded.record);
      release(superseded.record);
      if (!opened.has(id)) changed.add(id);
      transitions.push(superseded.transition);
      emails.push(...superseded.emails);
    }
    return true;
  };

  for (const message of messages) {
    if (message.kind === 'request') {
      const { request } = message;
      const known = records.get(request.requestId);
      if (known) {
        const differing = differingFields(known, request);
        if (differing.length === 0) duplicates += 1; // the first delivery opened it; a redelivery changes nothing
        else conflicts.push({ message, reason: 'CONFLICTING_DUPLICATE', detail: `request ${request.requestId} is known with other content (${differing.join(', ')} differ)` });
        continue;
      }
      if (!makeRoomFor(message)) continue;
      const approval = openApproval(request, message.stages, now, messageIdDomain);
      records.set(request.requestId, approval.record);
      opened.add(request.requestId);
      transitions.push(approval.transition);
      // A request already past its dueAt expires as it opens: nobody is asked to decide it.
      if (expireIfDue(approval.record).status === 'PENDING') {
        emails.push(...approval.emails);
        for (const k of cardKeys(request.cards)) holders.set(k, request.requestId);
      }
      // Decisions that raced ahead of this request apply now, in the order they were made.
      for (const early of awaiting.get(request.requestId) ?? []) decide(early);
      awaiting.delete(request.requestId);
    } else {
      const { decision } = message;
      if (seen.has(decision.decisionId)) {
        duplicates += 1;
        continue;
      }
      seen.add(decision.decisionId);
      decide(decision);
    }
  }

  const touched = [...opened, ...changed].map((id) => records.get(id)!);
  const closed = touched.filter((r) => r.status !== 'PENDING').map((r) => r.requestId);
  return {
    opened: [...opened].map((id) => records.get(id)!),
    changed: [...changed].map((id) => records.get(id)!),
    cardKeys: {
      held: touched.filter((r) => r.status === 'PENDING').flatMap((r) => cardKeys(r.cards).map((cardKey) => ({ cardKey, requestId: r.requestId }))),
      freedBy: closed,
    },
    timers: {
      set: [...opened].map((id) => records.get(id)!).filter((r) => r.status === 'PENDING').flatMap((r) => scheduleTimers(r, timerPolicies[r.operation]) ?? []),
      cleared: closed,
    },
    decisions: [...decisions.values()],
    transitions,
    emails,
    duplicates,
    conflicts,
  };
}
