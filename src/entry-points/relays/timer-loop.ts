// Fires reminders, escalations and expiries as they fall due. Due timers are leased (several
// workers share them) and fired together in one transaction. When that fails on the data, or a
// timer has failed this often already, they are fired one at a time: a timer that fails alone is
// parked with the reason (cardapproval_timers_parked_total, `card-approvals timers parked`), and
// the others fire. A database that is away parks nothing: the leases run out and all are retried.
import type { Transition } from '../../domain/approval';
import type { TimerPolicies } from '../../domain/approval-timers';
import { fireClaimedTimers } from '../../domain/fire-due-timers';
import type { ApprovalRepository, TimerClaim } from '../../domain/ports';
import { classify, reportDefect } from '../../libraries/errors';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { startRelayLoop } from './relay-loop';

/** How often the timer table is read for timers that fell due. */
const TIMER_POLL_MS = 1000;
/** Timers fired in one transaction at most. */
const CLAIM_LIMIT = 100;
/** A timer whose claims failed this many times is fired alone, and parked if it fails again. */
export const TIMER_MAX_ATTEMPTS = 5;

export function startTimerLoop(deps: {
  approvals: ApprovalRepository;
  policies: TimerPolicies;
  messageIdDomain: string;
  leaseMs: number;
  kickEvents: () => void;
  metrics: Metrics;
  logger: Logger;
}) {
  const { approvals, metrics, logger } = deps;
  const fire = fireClaimedTimers(deps);

  /** Fires each claim in a transaction of its own; parks one that fails on its data, or too often. */
  async function fireOneByOne(claims: TimerClaim[], now: number): Promise<Transition[]> {
    const fired: Transition[] = [];
    for (const claim of claims) {
      try {
        fired.push(...(await fire([claim], now)));
      } catch (error) {
        const failure = classify(error, { requestId: claim.requestId });
        const exhausted = claim.attempts >= TIMER_MAX_ATTEMPTS && failure.code !== 'DATABASE_UNAVAILABLE';
        // A defect parks a timer once it fails so on a second claim: a first can be a fault of the moment.
        const again = failure.code !== 'WORKER_DEFECT' || claim.attempts >= 2;
        if ((failure.retriable || !again) && !exhausted) continue; // its lease runs out, and it is claimed again
        await approvals.parkTimer(claim, failure.message);
        metrics.timersParked.inc();
        const fields = { requestId: claim.requestId, attempts: claim.attempts, parked: true };
        if (failure.code === 'WORKER_DEFECT') reportDefect(failure, 'timers', logger, metrics, fields);
        else logger.error({ ...fields, code: failure.code, err: failure }, 'timer parked: it fails on its own');
      }
    }
    return fired;
  }

  return startRelayLoop(
    'approval timers',
    async () => {
      const now = Date.now();
      const claims = await approvals.claimDueTimers(now, CLAIM_LIMIT, deps.leaseMs);
      if (claims.length === 0) return 0;
      let fired: Transition[];
      try {
        fired = await fire(claims, now);
      } catch (error) {
        const failure = classify(error);
        if (failure.retriable && claims.every((c) => c.attempts < TIMER_MAX_ATTEMPTS)) throw failure;
        logger.warn({ timers: claims.length, code: failure.code, err: failure }, 'timers failed together; firing them one at a time to find the one at fault');
        fired = await fireOneByOne(claims, now);
      }
      for (const t of fired) logger.info({ requestId: t.event.requestId, type: t.event.type, eventId: t.event.eventId }, `approval ${t.event.type.toLowerCase()}`);
      metrics.countTransitions(fired);
      if (fired.length) deps.kickEvents();
      return claims.length;
    },
    logger,
    { pollMs: TIMER_POLL_MS },
  );
}
