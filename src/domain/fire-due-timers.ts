// Use case: timers that fell due fire — reminders, escalations, expiries — exactly once in effect.
// The caller leases due timers first (so several workers share them); they fire here in a
// transaction that holds the same per-request locks as a decision: a decision committed first has
// cleared the timers, so nothing fires after it, and expiry never overrides it.
import type { Transition } from './approval';
import { fireTimers, type TimerPolicies } from './approval-timers';
import { emptyOutcome } from './decide-batch';
import type { ApprovalRepository, TimerClaim } from './ports';

export type FireClaimedTimers = (claims: TimerClaim[], now: number) => Promise<Transition[]>;

export function fireClaimedTimers({ approvals, policies, messageIdDomain }: { approvals: ApprovalRepository; policies: TimerPolicies; messageIdDomain: string }): FireClaimedTimers {
  return (claims, now) =>
    approvals.inTransaction(async (tx) => {
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
}
