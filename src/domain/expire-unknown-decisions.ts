// Use case: a decision whose request has not arrived within the waiting window is refused
// (UNKNOWN_REQUEST), so the approver's action never waits silently forever.
import type { Transition } from './approval';
import { refuseUnknownRequest } from './apply-decision';
import { emptyOutcome } from './decide-batch';
import type { ApprovalRepository } from './ports';

export type ExpireUnknownDecisions = (now?: number) => Promise<Transition[]>;

export function expireUnknownDecisions({ approvals, windowMs, limit = 200 }: { approvals: ApprovalRepository; windowMs: number; limit?: number }): ExpireUnknownDecisions {
  return (now = Date.now()) =>
    approvals.inTransaction(async (tx) => {
      const cutoff = now - windowMs;
      const requestIds = await tx.requestsAwaitedSince(cutoff, limit);
      if (requestIds.length === 0) return [];
      // The same per-request locks as a batch takes, so a request arriving meanwhile wins cleanly.
      await tx.lockRequests(requestIds, []);
      const expired = await tx.decisionsAwaitingMissingRequests(requestIds, cutoff);
      const transitions = expired.map(({ decision, receivedAt }) => refuseUnknownRequest(decision, now, now - receivedAt));
      const decisions = expired.map(({ decision }) => ({ decision, result: 'REFUSED' as const, refusalCode: 'UNKNOWN_REQUEST' as const }));
      await tx.save({ ...emptyOutcome(), decisions, transitions }, [], now); // the relay publishes them
      return transitions;
    });
}
