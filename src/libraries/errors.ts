// The error model. Every failure becomes an AppError with a stable code, and `classify` is the one
// place that decides whose failure it is:
// - the message's: it does not decode, breaks the contract, or the database refuses it (a data or
//   integrity error). It is dead-lettered with that reason and the partition moves on;
// - transient: a dependency is away. Retried without committing, never dead-lettered;
// - ours (WORKER_DEFECT): a bug, or code that does not match the database it runs on (a column,
//   a privilege). Logged at error level with its stack and counted; the message is dead-lettered
//   WORKER_DEFECT so the partition moves on, and replayed once the fix is deployed.
export const DEAD_LETTER_REASONS = [
  'EMPTY_VALUE', // null or zero-length value
  'UNDECODABLE', // not the Confluent wire format, or Avro that does not parse
  'UNKNOWN_SCHEMA', // schema id not in the registry
  'WRONG_SCHEMA', // a valid message of a schema this topic does not carry
  'INVALID_CONTENT', // decoded, but breaks the contract (bounds, addresses, operation/topic mismatch)
  'NO_APPROVERS', // nobody could approve: the request names none and no group is configured
  'NO_ELIGIBLE_APPROVERS', // every approver is the requester or a card holder: nobody could ever decide
  'CONFLICTING_DUPLICATE', // a known requestId with different content: an upstream bug, not a redelivery
  'CARD_BUSY', // a card of the request already has a pending approval, and its operation's policy is refuse
  'REJECTED_BY_STORE', // the database refuses this one message for good (a data or integrity error)
  'WORKER_DEFECT', // a defect of ours failed on this message (not the message's fault): replay it after the fix
] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

export type TransientCode = 'REGISTRY_UNAVAILABLE' | 'DATABASE_UNAVAILABLE' | 'BROKER_UNAVAILABLE' | 'SMTP_UNAVAILABLE';
export type ErrorCode = DeadLetterReason | TransientCode | 'CONFIG_INVALID' | 'NOT_PROVISIONED' | 'BROKER_REFUSED' | 'SMTP_REJECTED' | 'EMAIL_UNRENDERABLE' | 'UNENCODABLE' | 'SCHEMA_INCOMPATIBLE';

export interface MessageContext {
  topic?: string;
  partition?: number;
  offset?: string;
  requestId?: string;
  decisionId?: string;
  eventId?: string;
}

/** A failure with a stable code (`C`: the worker's codes, or an entry point's own, such as the API's). */
export class AppError<C extends string = ErrorCode> extends Error {
  constructor(
    readonly code: C,
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

/**
 * A defect of ours: a bug (a TypeError, say), or SQL the database cannot run as written (an
 * unknown column, a missing privilege). Not retriable, and never the message's fault.
 */
export class DefectError extends AppError {
  constructor(message: string, context: MessageContext = {}, options?: { cause?: unknown }) {
    super('WORKER_DEFECT', message, false, context, options);
    this.name = 'DefectError';
  }
}

/** Where a defect was met: the label of cardapproval_worker_defects_total. */
export type DefectSite = 'consumer' | 'timers' | 'events' | 'http';

/**
 * Reports a defect where it is acted on (a message dead-lettered, a timer parked, a 500): an
 * error-level line with the stack of what was thrown, and one count. The alert is on the count.
 */
export function reportDefect(
  defect: AppError,
  site: DefectSite,
  logger: { error(fields: object, message: string): void },
  metrics: { defects: { inc(labels: { component: DefectSite }): void } },
  fields: object = {},
): void {
  metrics.defects.inc({ component: site });
  logger.error({ ...defect.context, ...fields, code: defect.code, err: defect }, `worker defect: ${defect.message}`);
}

/**
 * Something the worker was told not to provision itself is not there (MIGRATE=false,
 * KAFKA_CREATE_TOPICS=false, SCHEMA_REGISTRY_REGISTER=false): a migration, a topic, a schema. It
 * refuses to start, naming what is missing, rather than run on half a setup.
 */
export class NotProvisionedError extends AppError {
  constructor(message: string) {
    super('NOT_PROVISIONED', message, false);
    this.name = 'NotProvisionedError';
  }
}

/** The message of anything thrown, for a log line or a stored error column. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The SQLSTATE of a Postgres error, directly or as TypeORM wraps it. */
function sqlState(error: unknown): string | undefined {
  const candidates = [error, (error as { driverError?: unknown } | null)?.driverError];
  for (const c of candidates) {
    const code = (c as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * Postgres SQLSTATEs that say the database, not the data, is the problem: connection (08),
 * resources (53), shutdown and crash (57P0x), serialization and deadlock (40001, 40P01), a lock or
 * statement that waited too long (55P03, 57014), a system or internal error of the server (58,
 * XX), and the database refusing us whatever we send: read-only after a failover (25006), a
 * session ended for idling in a transaction (25P03), a login or database refused (28, 3D000), a
 * privilege missing (42501). Every message would fail alike, so they wait rather than go to the
 * dead-letter topic one by one. Data exceptions (22), integrity violations (23) and program limits
 * a value runs into (54: an index row too large, say) are the message's own: retrying it cannot
 * help. Anything else (42: an undefined column, a syntax error) is SQL of ours the database
 * cannot run: a defect.
 */
const TRANSIENT_SQLSTATE = /^(08|53|57P0|40001|40P01|55P03|57014|58|XX|25006|25P03|28|3D000|42501)/;
const REFUSED_SQLSTATE = /^(22|23|54)/;

/**
 * How pg and TypeORM report a connection lost or not open (plain errors, without a SQLSTATE):
 * pg's own messages, and TypeORM's for a query runner whose connection was killed mid-transaction
 * (QueryRunnerProviderAlreadyReleasedError) or a data source not connected (while stopping).
 */
const CONNECTION_LOST = /connection terminated|timeout exceeded when trying to connect|client was closed|not queryable|connection refused|cannot use a pool after calling end|already released|driver not connected|connection is not yet established|database is not established/i;

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

/** Turns anything thrown into an AppError: the one place that decides whose failure it is. */
export function classify(error: unknown, context: MessageContext = {}): AppError {
  if (error instanceof AppError) return error;
  const state = sqlState(error);
  if (state !== undefined) {
    if (TRANSIENT_SQLSTATE.test(state)) return new TransientError('DATABASE_UNAVAILABLE', `database: ${errorMessage(error)} (${state})`, context, { cause: error });
    if (REFUSED_SQLSTATE.test(state)) return new PermanentMessageError('REJECTED_BY_STORE', `the database refused it: ${errorMessage(error)} (${state})`, context, { cause: error });
    return new DefectError(`the database cannot run our statement: ${errorMessage(error)} (${state})`, context, { cause: error });
  }
  const code = (error as { code?: unknown } | null)?.code;
  if ((typeof code === 'string' && NETWORK_CODES.has(code)) || CONNECTION_LOST.test(errorMessage(error))) {
    return new TransientError('DATABASE_UNAVAILABLE', `database: ${errorMessage(error)}`, context, { cause: error });
  }
  if ((error as Error | null)?.name?.startsWith('KafkaJS')) {
    return kafkaRetriable(error)
      ? new TransientError('BROKER_UNAVAILABLE', `broker: ${errorMessage(error)}`, context, { cause: error })
      : new AppError('BROKER_REFUSED', `broker: ${errorMessage(error)}`, false, context, { cause: error });
  }
  // Everything else is a defect of ours (a TypeError, a RangeError, a broken invariant): retrying
  // the same code on the same input gives the same failure.
  const name = error instanceof Error ? `${error.name}: ` : '';
  return new DefectError(`${name}${errorMessage(error)}`, context, { cause: error });
}

/**
 * Whether retrying can help a kafkajs failure. kafkajs wraps what failed once its own retries run
 * out (KafkaJSNumberOfRetriesExceeded, itself marked not retriable), so the innermost kafkajs
 * error is what counts: only a broker's definitive refusal (a protocol error it marks not
 * retriable: too large, not authorised) is permanent; a connection lost, a request timed out or
 * a broker away stays transient however long it lasted.
 */
function kafkaRetriable(error: unknown): boolean {
  type KafkaFailure = { name?: string; retriable?: boolean; cause?: unknown };
  let inner = error as KafkaFailure;
  while ((inner.cause as KafkaFailure | undefined)?.name?.startsWith('KafkaJS')) inner = inner.cause as KafkaFailure;
  return inner.name === 'KafkaJSProtocolError' ? inner.retriable !== false : true;
}
