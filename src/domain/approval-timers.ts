// Approvals that always end. Each operation's timer policy says when the approvers who have not
// decided are reminded (again and again, at doubling intervals up to a cap), when the request is
// also offered to an escalation group, and when it expires. A request's own `dueAt` can bring
// expiry forward, never later. A pending approval's timers are one schedule; firing it is pure.
import { eventFrom, eventIdFor, emailsTo, type ApprovalEvent, type ApprovalRecord, type EmailToSend, type Transition } from './approval';
import { distinctPeople, eligibleApprovers, samePerson } from './approval-policy';
import { peopleProblems } from './validate-message';
import { awaitedApprovers } from './approval-votes';
import { OPERATIONS, type Operation, type Person } from './card-operation';

export interface TimerPolicy {
  /** The first reminder, after the approval opened; null: no reminders. */
  remindAfterMs: number | null;
  /** Reminders repeat at doubling intervals (remindAfter, 2×, 4×…) up to this one. */
  remindIntervalMaxMs: number;
  /** When the escalation group is offered the request too; null (or no group): never. */
  escalateAfterMs: number | null;
  escalateTo: Person[];
  /** When the approval ends EXPIRED; null: only the request's own dueAt expires it. */
  expireAfterMs: number | null;
}

const HOUR = 3600_000;
/**
 * Without a policy: a reminder after a working day, then after 2 and 3 more days (the cap), and
 * expiry after 14 days, so no approval waits forever. No escalation: it needs a group to name.
 */
export const DEFAULT_TIMER_POLICY: TimerPolicy = { remindAfterMs: 24 * HOUR, remindIntervalMaxMs: 72 * HOUR, escalateAfterMs: null, escalateTo: [], expireAfterMs: 14 * 24 * HOUR };

/** What is wrong with a timer policy: one that names nobody to escalate to, or has a timer that could never fire. */
export function timerPolicyProblems(label: string, policy: TimerPolicy): string[] {
  const found = peopleProblems(`${label}.escalateTo`, policy.escalateTo);
  if (policy.escalateAfterMs !== null && policy.escalateTo.length === 0) found.push(`${label}.escalateAfter needs escalateTo: the people the request is escalated to`);
  if (policy.remindAfterMs !== null && policy.remindIntervalMaxMs < policy.remindAfterMs) found.push(`${label}.remindIntervalMax must be at least remindAfter: it caps the intervals that start there`);
  // A timer at or after expiry would never fire: the approval is over by then.
  for (const [name, at] of [['remindAfter', policy.remindAfterMs], ['escalateAfter', policy.escalateAfterMs]] as const) {
    if (at !== null && policy.expireAfterMs !== null && at >= policy.expireAfterMs) found.push(`${label}.${name} must be shorter than expireAfter, or it never fires`);
  }
  return found;
}

/** A pending approval's next timers (epoch ms, null when that timer will not fire). */
export interface Timers {
  requestId: string;
  remindAt: number | null;
  /** Reminders sent so far. */
  reminders: number;
  escalateAt: number | null;
  expireAt: number | null;
}

/** The earliest timer, or null when none is left. */
export function nextDue(timers: Omit<Timers, 'requestId' | 'reminders'>): number | null {
  const times = [timers.remindAt, timers.escalateAt, timers.expireAt].filter((t): t is number => t !== null);
  return times.length === 0 ? null : Math.min(...times);
}

/** The wait after the nth reminder: remindAfter doubled n times, capped. */
export function reminderInterval(policy: TimerPolicy, nth: number): number {
  const first = policy.remindAfterMs ?? policy.remindIntervalMaxMs;
  return Math.min(first * 2 ** Math.min(nth, 40), Math.max(first, policy.remindIntervalMaxMs));
}

/** The message of a request's nth REMINDED event, as the events topic carries it. */
export const reminderMessage = (nth: number): string => `Reminder ${nth}: still waiting for a decision.`;

/** Which reminder a REMINDED event was (its message says), or null for any other event. */
export function reminderNumber(event: Pick<ApprovalEvent, 'type' | 'message'>): number | null {
  const nth = event.type === 'REMINDED' ? /^Reminder (\d+):/.exec(event.message ?? '')?.[1] : undefined;
  return nth === undefined ? null : Number(nth);
}

const earlier = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.min(a, b));

/** When an approval expires: its policy's expiry, or its own dueAt if that is sooner; null: never. */
export function expiryOf(record: Pick<ApprovalRecord, 'openedAt' | 'dueAt'>, policy: TimerPolicy): number | null {
  return earlier(policy.expireAfterMs === null ? null : record.openedAt + policy.expireAfterMs, record.dueAt);
}

/** The timers of a newly opened approval; null when it has none (no reminders, escalation or expiry). */
export function scheduleTimers(record: ApprovalRecord, policy: TimerPolicy): Timers | null {
  const expireAt = expiryOf(record, policy);
  // Nothing fires at or after expiry: the approval is over by then.
  const beforeExpiry = (at: number | null): number | null => (at !== null && (expireAt === null || at < expireAt) ? at : null);
  const timers: Timers = {
    requestId: record.requestId,
    remindAt: beforeExpiry(policy.remindAfterMs === null ? null : record.openedAt + policy.remindAfterMs),
    reminders: 0,
    escalateAt: beforeExpiry(policy.escalateAfterMs === null || policy.escalateTo.length === 0 ? null : record.openedAt + policy.escalateAfterMs),
    expireAt,
  };
  return nextDue(timers) === null ? null : timers;
}

export interface Fired {
  /** The approval after the timers fired; unchanged when nothing was due. */
  record: ApprovalRecord;
  transitions: Transition[];
  emails: EmailToSend[];
  /** What is left to fire; null when nothing is (the approval ended, or all timers are spent). */
  timers: Timers | null;
}

/**
 * Fires the timers of `record` that are due at `now`, in the order they fell due: expiry ends the
 * approval and nothing else fires; otherwise a due reminder goes to the approvers who could decide,
 * then a due escalation offers the request to the group. Reminders missed while no worker ran are
 * not sent in a burst: one is sent, and the next falls after `now`. A closed approval has no timers.
 */
export function fireTimers(record: ApprovalRecord, timers: Timers, now: number, policy: TimerPolicy, messageIdDomain: string): Fired {
  if (record.status !== 'PENDING') return { record, transitions: [], emails: [], timers: null };
  const due = (at: number | null): at is number => at !== null && at <= now;
  if (due(timers.expireAt)) return expireApproval(record, now, messageIdDomain);

  let current = record;
  let next = { ...timers };
  const transitions: Transition[] = [];
  const emails: EmailToSend[] = [];
  const changed = (update: Partial<ApprovalRecord>): ApprovalRecord => ({ ...current, ...update, updatedAt: now, version: current.version + 1 });

  // A policy that no longer reminds stops the reminders of approvals opened under an older one.
  if (policy.remindAfterMs === null) next = { ...next, remindAt: null };
  if (due(next.remindAt)) {
    const nth = next.reminders + 1;
    current = changed({});
    const event = eventFrom(current, eventIdFor.reminded(record.requestId, nth), 'REMINDED', now, { decision: null, refusalCode: null, message: reminderMessage(nth) });
    transitions.push({ event, statusBefore: 'PENDING', actor: null, reason: event.message });
    emails.push(...emailsTo(event.eventId, awaitedApprovers(record), 'approval-reminder', messageIdDomain));
    // The next one after now, in one step however long nobody fired them.
    const interval = reminderInterval(policy, nth);
    const remindAt = next.remindAt + interval * Math.max(1, Math.floor((now - next.remindAt) / interval) + 1);
    next = { ...next, reminders: nth, remindAt: next.expireAt !== null && remindAt >= next.expireAt ? null : remindAt };
  }

  if (due(next.escalateAt)) {
    const joining = distinctPeople(eligibleApprovers(record, policy.escalateTo)).filter((p) => !current.approvers.some((a) => samePerson(a, p)));
    if (joining.length > 0) {
      current = changed({ approvers: [...current.approvers, ...joining], escalatedTo: [...current.escalatedTo, ...joining] });
      const message = `Escalated: also offered to ${joining.map((p) => p.name).join(', ')}.`;
      const event = eventFrom(current, eventIdFor.escalated(record.requestId), 'ESCALATED', now, { decision: null, refusalCode: null, message });
      transitions.push({ event, statusBefore: 'PENDING', actor: null, reason: message });
      emails.push(...emailsTo(event.eventId, joining, 'approval-escalated', messageIdDomain));
    }
    next = { ...next, escalateAt: null };
  }

  return { record: current, transitions, emails, timers: nextDue(next) === null ? null : next };
}

/** The approval ends EXPIRED and its requester is told. */
export function expireApproval(record: ApprovalRecord, now: number, messageIdDomain: string): Fired {
  const next: ApprovalRecord = { ...record, status: 'EXPIRED', closedAt: now, updatedAt: now, version: record.version + 1 };
  const message = record.dueAt !== null && record.dueAt <= now ? 'No decision by the request\'s due date.' : 'No decision within the time the operation allows.';
  const event = eventFrom(next, eventIdFor.expired(record.requestId), 'EXPIRED', now, { decision: null, refusalCode: null, message });
  return {
    record: next,
    transitions: [{ event, statusBefore: record.status, actor: null, reason: message }],
    emails: emailsTo(event.eventId, [record.requester], 'request-expired', messageIdDomain),
    timers: null,
  };
}

export type TimerPolicies = Record<Operation, TimerPolicy>;
export const DEFAULT_TIMER_POLICIES = Object.fromEntries(OPERATIONS.map((op) => [op, DEFAULT_TIMER_POLICY])) as TimerPolicies;
