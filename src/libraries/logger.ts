import pino, { type Logger } from 'pino';
import { AppError } from './errors';

export type { Logger };

const BASE = { service: 'card-approval-worker' };

/** Structured JSON logs; components take a child logger with their name and ids as fields. */
export function createLogger(level: string, destination?: string): Logger {
  const options = { level, base: BASE, timestamp: pino.stdTimeFunctions.isoTime };
  // Asynchronous writes: a line per transition must not cost a blocking write each (pino flushes on exit).
  return pino(options, pino.destination({ dest: destination ?? 1, mkdir: destination !== undefined, sync: false }));
}

/**
 * The access log: a logger of its own, on a destination of its own (ACCESS_LOG: stderr, stdout or
 * a file), so that it can be shipped and kept apart from the worker's log. Every line is marked
 * "log":"access". A file that cannot be opened stops start-up, naming the setting.
 */
export async function openAccessLog(destination: string): Promise<{ logger: Logger; stop(): Promise<void> }> {
  const fd = ({ stdout: 1, stderr: 2 } as Record<string, number>)[destination];
  const stream = pino.destination({ dest: fd ?? destination, mkdir: fd === undefined, sync: false });
  await new Promise<void>((resolve, reject) => {
    stream.once('ready', resolve);
    stream.once('error', (error: NodeJS.ErrnoException) => reject(new AppError('CONFIG_INVALID', `ACCESS_LOG="${destination}" cannot be opened (${error.code ?? error.message})`, false)));
  });
  const logger = pino({ level: 'info', base: { ...BASE, log: 'access' }, timestamp: pino.stdTimeFunctions.isoTime }, stream);
  return {
    logger,
    // Writes what is buffered, then closes a file (stdout and stderr stay open).
    stop: () => new Promise<void>((resolve) => {
      stream.once('close', () => resolve());
      stream.end();
    }),
  };
}
