// Retention, as a timed job of every worker: each polls, and the one that takes the run (when it
// is due and no other holds it) removes every kind of row past its time. A round is one batch of
// each kind; while any batch comes back full another round follows, after a pause nine times as
// long as the round took (retention takes at most a tenth of the time, so a large backlog does not
// slow intake down; a stop ends the pause), and a stop waits for one round at most. Then the run ends, and the next is due
// RETENTION_INTERVAL later, whichever worker takes it.
import { randomUUID } from 'node:crypto';
import { RETENTION_KINDS, type Retention } from '../../data-access/retention';
import type { Config } from '../../libraries/config';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { startRelayLoop, type RelayLoop } from './relay-loop';

/** Rows a statement removes at most: short statements, whose locks the consumer never waits on. */
export const RETENTION_BATCH = 500;
/** How long a run is held without a word from its worker; a worker that died gives it up after this. */
const LEASE_MS = 5 * 60_000;
/** The pause after a full round: this many times the round's own time, at most MAX_PAUSE_MS. */
const PAUSE_FACTOR = 9;
const MAX_PAUSE_MS = 60_000;

export function startRetention(retention: Retention, settings: Config['retention'], metrics: Pick<Metrics, 'retentionRemoved'>, logger: Logger): RelayLoop {
  const holder = randomUUID();
  let holding = false;
  let removed: Record<string, number> = {};
  let stopping = false;
  let endPause: (() => void) | undefined;
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      endPause = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const end = async (nextInMs: number): Promise<void> => {
    holding = false;
    await retention.finish(holder, nextInMs);
    if (Object.values(removed).some(Boolean)) logger.info({ removed }, 'retention removed rows past their time');
    removed = {};
  };
  const round = async (): Promise<number> => {
    if (!holding && !(holding = await retention.claim(holder, LEASE_MS))) return 0;
    let full = false;
    const began = Date.now();
    try {
      for (const kind of RETENTION_KINDS) {
        const n = await retention.remove(kind, settings, RETENTION_BATCH);
        if (n > 0) metrics.retentionRemoved.inc({ kind }, n);
        removed[kind] = (removed[kind] ?? 0) + n;
        full ||= n === RETENTION_BATCH;
      }
      await retention.renew(holder, LEASE_MS);
    } catch (error) {
      // Another worker (or this one) tries again within the minute; the loop logs and backs off.
      await end(Math.min(settings.intervalMs, 60_000));
      throw error;
    }
    if (full) {
      if (!stopping) await pause(Math.min(MAX_PAUSE_MS, PAUSE_FACTOR * (Date.now() - began)));
      return 1;
    }
    await end(settings.intervalMs);
    return 0;
  };
  const loop = startRelayLoop('retention', round, logger, { pollMs: Math.min(60_000, settings.intervalMs) });
  return {
    kick: loop.kick,
    async stop() {
      stopping = true;
      endPause?.();
      await loop.stop();
      // A run cut short is due again at once, for whichever worker is still there.
      if (holding) await end(0);
    },
  };
}
