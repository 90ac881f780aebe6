// The error model. A failure carries a stable machine-readable code and says whether retrying
// can help. A message that can never be processed as it is (it does not decode, or breaks the
// contract) is dead-lettered and the partition moves on; a dependency that is away is transient.
// A failure while applying a batch is, for now, retried until it passes, whatever its kind.

export const DEAD_LETTER_REASONS = [
  'EMPTY_VALUE', // null or zero-length value
  'UNDECODABLE', // not the Confluent wire format, or Avro that does not parse
  'UNKNOWN_SCHEMA', // schema id not in the registry
  'WRONG_SCHEMA', // a valid message of a schema this topic does not carry
  'INVALID_CONTENT', // decoded, but breaks the contract (bounds, addresses, operation/topic mismatch)
  'NO_APPROVERS', // nobody could approve: the request names none and no group is configured
] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

export type TransientCode = 'REGISTRY_UNAVAILABLE' | 'DATABASE_UNAVAILABLE' | 'BROKER_UNAVAILABLE' | 'SMTP_UNAVAILABLE';
export type ErrorCode = DeadLetterReason | TransientCode | 'CONFIG_INVALID' | 'SMTP_REJECTED' | 'INTERNAL';

export interface MessageContext {
  topic?: string;
  partition?: number;
  offset?: string;
  requestId?: string;
  decisionId?: string;
  eventId?: string;
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retriable: boolean,
    readonly context: MessageContext = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }
}

/** A message that can never be processed as it is: it goes to the dead-letter topic. */
export class PermanentMessageError extends AppError {
  constructor(readonly reason: DeadLetterReason, message: string, context: MessageContext = {}, options?: { cause?: unknown }) {
    super(reason, message, false, context, options);
    this.name = 'PermanentMessageError';
  }
}

/** A dependency is unavailable: retry with backoff, do not commit, never dead-letter. */
export class TransientError extends AppError {
  constructor(code: TransientCode, message: string, context: MessageContext = {}, options?: { cause?: unknown }) {
    super(code, message, true, context, options);
    this.name = 'TransientError';
  }
}

/** The message of anything thrown, for a log line or a stored error column. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
