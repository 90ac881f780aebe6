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

/** Start-up waits out a dependency that is briefly away (a restart, an outage) instead of exiting. */
export async function untilAvailable<T>(what: string, attempt: () => Promise<T>, logger: Logger, signal?: AbortSignal, giveUpAfterMs = 5 * 60_000): Promise<T> {
  const deadline = Date.now() + giveUpAfterMs;
  for (let tries = 1; ; tries += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof TransientError) || Date.now() > deadline) throw error;
      logger.warn({ dependency: what, tries, err: error }, `${what} unavailable at start-up; retrying`);
      await sleep(backoffMs(tries, 5000), undefined, { signal });
    }
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
