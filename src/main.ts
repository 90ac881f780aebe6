// The worker process: validated config, the wired worker, and a clean shutdown on SIGTERM/SIGINT
// (drain the batch in hand, commit, flush what the outboxes can) within 30 s.
import { ConfigError, loadConfig } from './libraries/config';
import { describe } from './libraries/errors';
import { createLogger } from './libraries/logger';
import { startWorker } from './worker';

const SHUTDOWN_DEADLINE_MS = 30_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  // Handlers go in before start-up: a SIGTERM while starting still shuts down cleanly.
  const starting = startWorker(config, logger);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown took longer than 30s; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    starting.then((worker) => worker.stop()).then(
      () => process.exit(0),
      () => process.exit(0), // start-up failed; nothing is left running
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  const worker = await starting;
  const error = await worker.crashed;
  logger.fatal({ err: describe(error) }, 'consumer crashed and will not restart; exiting');
  await worker.stop();
  process.exit(1);
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `worker failed to start: ${describe(error)}`);
  process.exit(1);
});
