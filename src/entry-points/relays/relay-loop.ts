// Drives an outbox relay or a timed job: drain while there is work, then sleep until kicked (after
// each batch's commit) or until the poll interval passes (the fallback that also picks up rows
// written by other processes). A round that handled work may be followed by a rest (`restMs`),
// which kicks do not cut short: work that can wait makes room on the event loop for work that
// cannot. Errors back off; the loop itself never dies.
import type { Logger } from '../../libraries/logger';
import { backoffMs } from '../../libraries/retry';

export interface RelayLoop {
  kick(): void;
  stop(): Promise<void>;
}

export function startRelayLoop(
  name: string,
  drainOnce: () => Promise<number>,
  logger: Logger,
  {
    pollMs = 500,
    maxBackoffMs = 10_000,
    restMs = () => 0,
  }: {
    pollMs?: number;
    maxBackoffMs?: number;
    /** How long to rest after a round that handled work (0: go on at once). */
    restMs?: () => number;
  } = {},
): RelayLoop {
  let running = true;
  let wake: (() => void) | undefined;
  let kicksWake = true;
  let kicked = false;
  let failures = 0;

  /** Waits `ms`: a stop ends the wait at once, and so does a kick unless it is a rest. */
  const sleep = (ms: number, rest = false): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
      kicksWake = !rest;
    });

  const loop = (async () => {
    while (running) {
      kicked = false;
      let handled = 0;
      try {
        handled = await drainOnce();
        failures = 0;
      } catch (error) {
        failures += 1;
        logger.warn({ relay: name, err: error, failures }, 'relay round failed; backing off');
        await sleep(backoffMs(failures, maxBackoffMs));
        continue;
      }
      if (handled === 0 && !kicked && running) await sleep(pollMs);
      const rest = handled > 0 && running ? restMs() : 0;
      if (rest > 0) await sleep(rest, true);
    }
  })();

  return {
    kick() {
      kicked = true;
      if (kicksWake) wake?.();
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
    },
  };
}
