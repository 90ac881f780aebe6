// Use case: timers that fell due fire — reminders, escalations, expiries — exactly once in effect.
// Due timers are leased first (so several workers share them), then fired in a transaction that
// holds the same per-request locks as a decision: a decision committed first has cleared the
// timers, so nothing fires after it, and expiry never overrides it.
import type { Transition } from './approval';
import { fireTimers, type TimerPolicies } from './approval-timers';
import { emptyOutcome } from './decide-batch';
import type { ApprovalRepository } from './ports';

export type FireDueTimers = (now?: number) => Promise<Transition[]>;

export function fireDueTimers({
  approvals,
  policies,
  messageIdDomain,
  leaseMs,
  limit = 100,
}: {
  approvals: ApprovalRepository;
  policies: TimerPolicies;
  messageIdDomain: string;
  /** How long a claim lasts: a worker that dies holding timers delays them this long. */
  leaseMs: number;
  limit?: number;
}): FireDueTimers {
  return async (now = Date.now()) => {
    const claims = await approvals.claimDueTimers(now, limit, leaseMs);
    if (claims.length === 0) return [];
    return approvals.inTransaction(async (tx) => {
      await tx.lockRequests(claims.map((c) => c.requestId), []);
      // Read after the locks: a timer a decision cleared meanwhile is gone, and fires nothing.
      const timers = await tx.claimedTimers(claims);
      const { state } = await tx.load(timers.map((t) => t.requestId), [], []);
      const outcome = emptyOutcome();
      for (const due of timers) {
        const record = state.records.get(due.requestId);
        const fired = record ? fireTimers(record, due, now, policies[record.operation], messageIdDomain) : undefined;
        if (!fired?.timers) outcome.timers.cleared.push(due.requestId);
        else outcome.timers.set.push(fired.timers);
        if (!fired || fired.record === record) continue;
        outcome.changed.push(fired.record);
        outcome.transitions.push(...fired.transitions);
        outcome.emails.push(...fired.emails);
        if (fired.record.status !== 'PENDING') outcome.cardKeys.freedBy.push(fired.record.requestId);
      }
      await tx.save(outcome, [], now); // the event relay publishes them, after any older event of the request
      return outcome.transitions;
    });
  };
}
