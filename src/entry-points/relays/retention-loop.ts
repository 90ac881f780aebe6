// Retention, as a timed job of every worker: each polls, and the one that takes the run (when it
// is due and no other holds it) removes every kind of row past its time, a batch at a time, until
// a batch comes back short. The next run is due RETENTION_INTERVAL later, whichever worker takes it.
import { randomUUID } from 'node:crypto';
import { RETENTION_KINDS, type Retention, type RetentionKind } from '../../data-access/retention';
import type { Config } from '../../libraries/config';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { startRelayLoop } from './relay-loop';

/** Rows a statement removes at most: short statements, whose locks the consumer never waits on. */
export const RETENTION_BATCH = 500;
/** How long a run is held without a word from its worker; a worker that died gives it up after this. */
const LEASE_MS = 5 * 60_000;

export function startRetention(retention: Retention, settings: Config['retention'], metrics: Pick<Metrics, 'retentionRemoved'>, logger: Logger) {
  const holder = randomUUID();
  const runOnce = async (): Promise<number> => {
    if (!(await retention.claim(holder, LEASE_MS))) return 0;
    const removed: Partial<Record<RetentionKind, number>> = {};
    let nextInMs = settings.intervalMs;
    try {
      for (const kind of RETENTION_KINDS) {
        for (let n = RETENTION_BATCH; n === RETENTION_BATCH; ) {
          n = await retention.remove(kind, settings, RETENTION_BATCH);
          if (n > 0) metrics.retentionRemoved.inc({ kind }, n);
          removed[kind] = (removed[kind] ?? 0) + n;
          await retention.renew(holder, LEASE_MS);
        }
      }
    } catch (error) {
      // Another worker (or this one) tries again within the minute; the loop logs and backs off.
      nextInMs = Math.min(settings.intervalMs, 60_000);
      throw error;
    } finally {
      await retention.finish(holder, nextInMs);
      if (Object.values(removed).some(Boolean)) logger.info({ removed }, 'retention removed rows past their time');
    }
    return 0;
  };
  return startRelayLoop('retention', runOnce, logger, { pollMs: Math.min(60_000, settings.intervalMs) });
}
