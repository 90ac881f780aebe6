// The retry backoff and the poll helper. Retries back off exponentially to a cap (emails, which
// wait on a remote server, keep a slower schedule of their own); polls check a condition at an
// interval until it holds or a deadline passes, then fail with the last value seen.
import { setTimeout as sleep } from 'node:timers/promises';
import { TransientError, errorMessage } from './errors';
import type { Logger } from './logger';

/** Delay after failed attempt number `attempt` (1-based): 400 ms, doubling, capped. */
export function backoffMs(attempt: number, capMs = 10_000): number {
  return Math.min(capMs, 200 * 2 ** Math.min(attempt, 16));
}

/** How often a start-up wait says it is still waiting. */
const PROGRESS_EVERY_MS = 10_000;

/**
 * Start-up waits out a dependency that is briefly away (a restart, an outage), for at most
 * `waitMs` (STARTUP_WAIT), saying every 10 s what it waits for; then it gives up with one line
 * naming the setting to check. What is not transient (a refusal, a wrong path) fails at once.
 */
export async function untilAvailable<T>(
  dependency: { what: string; setting: string },
  attempt: () => Promise<T>,
  logger: Logger,
  { signal, waitMs }: { signal?: AbortSignal; waitMs: number },
): Promise<T> {
  const began = Date.now();
  let said = began;
  for (let tries = 1; ; tries += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof TransientError)) throw error;
      const waited = Date.now() - began;
      if (waited >= waitMs) throw new StartupGaveUp(`${dependency.what} did not answer within ${Math.round(waitMs / 1000)} s (STARTUP_WAIT): check ${dependency.setting} (${errorMessage(error)})`, error);
      if (tries === 1 || Date.now() - said >= PROGRESS_EVERY_MS) {
        said = Date.now();
        logger.warn({ dependency: dependency.what, setting: dependency.setting, waitedSeconds: Math.round(waited / 1000), reason: errorMessage(error) }, `waiting for ${dependency.what} (${dependency.setting})`);
      }
      await sleep(Math.min(backoffMs(tries, 5000), Math.max(0, waitMs - waited)), undefined, { signal });
    }
  }
}

/** Start-up waited as long as it may for a dependency, and gave up. */
export class StartupGaveUp extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'StartupGaveUp';
  }
}

/** Polls `probe` until it returns a value that passes `accept`, or fails with the last value seen. */
export async function pollUntil<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  { timeoutMs = 30_000, intervalMs = 100, what = 'condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await probe();
      if (accept(last)) return last;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)?.slice(0, 2000)}${lastError ? `; last error: ${errorMessage(lastError)}` : ''}`);
}
