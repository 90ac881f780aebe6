import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; components take a child logger with their name and ids as fields. */
export function createLogger(level: string, destination?: string): Logger {
  const options = { level, base: { service: 'card-approval-worker' }, timestamp: pino.stdTimeFunctions.isoTime };
  // Asynchronous writes: a line per transition must not cost a blocking write each (pino flushes on exit).
  return pino(options, pino.destination({ dest: destination ?? 1, mkdir: destination !== undefined, sync: false }));
}
