// The worker process: validated config, the wired worker, and a clean shutdown on SIGTERM/SIGINT
// (drain the batch in hand, commit, flush what the outboxes can) within 30 s.
//
// The signal handlers are the first thing this file does. Loading the worker's modules takes
// seconds on a busy machine, and a signal with no handler installed takes its default action and
// kills the process half-started. So everything else is loaded only after the handlers are in
// place, and a signal at any moment of start-up (loading, migration, group join) ends the process
// with exit code 0 once the step in hand has finished.
import type { RunningWorker } from './worker';

const SHUTDOWN_DEADLINE_MS = 30_000;
const stop = new AbortController();

function requestStop(signal: NodeJS.Signals): void {
  if (stop.signal.aborted) return;
  stop.abort(signal);
  setTimeout(() => {
    process.stderr.write('shutdown took longer than 30s; exiting\n');
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS).unref();
}
process.on('SIGTERM', requestStop);
process.on('SIGINT', requestStop);
// Operators see the worker by name in `ps`; it also marks the moment signals are handled.
process.title = 'card-approval-worker';

const stopRequested = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));

async function main(): Promise<number> {
  const { ConfigError, loadConfig } = await import('./libraries/config');
  const { createLogger } = await import('./libraries/logger');
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return 1;
  }
  const logger = createLogger(config.logLevel);
  const shuttingDown = (): number => {
    logger.info({ signal: stop.signal.reason as string }, 'shutting down');
    return 0;
  };

  let worker: RunningWorker;
  try {
    const { startWorker } = await import('./worker');
    worker = await startWorker(config, logger, stop.signal);
  } catch (error) {
    // A stop during start-up: startWorker has undone what it had started.
    if (stop.signal.aborted) return shuttingDown();
    logger.fatal({ err: error }, 'worker failed to start');
    return 1;
  }

  const crash = await Promise.race([stopRequested.then(() => undefined), worker.crashed]);
  if (crash === undefined) {
    shuttingDown();
    await worker.stop();
    return 0;
  }
  logger.fatal({ err: crash }, 'consumer crashed and will not restart; exiting');
  await worker.stop();
  return 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`worker failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
