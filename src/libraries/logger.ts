import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; components take a child logger with their name and ids as fields. */
export function createLogger(level: string, destination?: string): Logger {
  const options = { level, base: { service: 'card-approval-worker' }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, pino.destination({ dest: destination, mkdir: true, sync: false })) : pino(options);
}
