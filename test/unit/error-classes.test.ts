// Whose failure is it: the message's, a dependency's (transient), or ours (a defect)?
import { classify } from '../../src/libraries/errors';

const pgError = (code: string, message = 'failed'): Error => Object.assign(new Error(message), { code });
const driverError = (code: string): Error => Object.assign(new Error('query failed'), { driverError: pgError(code) });

test.each<[string, unknown, string, boolean]>([
  ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'name')"), 'WORKER_DEFECT', false],
  ['a RangeError', new RangeError('Invalid time value'), 'WORKER_DEFECT', false],
  ['something thrown that is not an Error', 'oops', 'WORKER_DEFECT', false],
  ['an undefined column (42703)', pgError('42703'), 'WORKER_DEFECT', false],
  ['a syntax error, as TypeORM wraps it (42601)', driverError('42601'), 'WORKER_DEFECT', false],
  ['a NUL the jsonb cast refuses (22P05)', pgError('22P05'), 'REJECTED_BY_STORE', false],
  ['a check constraint (23514)', pgError('23514'), 'REJECTED_BY_STORE', false],
  ['an index row too large (54000)', pgError('54000'), 'REJECTED_BY_STORE', false],
  ['a connection failure (08006)', pgError('08006'), 'DATABASE_UNAVAILABLE', true],
  ['a read-only database after a failover (25006)', pgError('25006'), 'DATABASE_UNAVAILABLE', true],
  ['a session ended for idling in a transaction (25P03)', pgError('25P03'), 'DATABASE_UNAVAILABLE', true],
  ['a login refused while a password rotates (28P01)', pgError('28P01'), 'DATABASE_UNAVAILABLE', true],
  ['a privilege missing for every statement alike (42501)', driverError('42501'), 'DATABASE_UNAVAILABLE', true],
  ['a query runner whose connection was killed mid-transaction', Object.assign(new Error('Database connection provided by a query runner was already released, cannot continue to use its querying methods anymore.'), { name: 'QueryRunnerProviderAlreadyReleasedError' }), 'DATABASE_UNAVAILABLE', true],
  ['a data source not connected while stopping', new Error('Driver not Connected'), 'DATABASE_UNAVAILABLE', true],
  ['an unreachable network', pgError('ENETUNREACH', 'connect ENETUNREACH'), 'DATABASE_UNAVAILABLE', true],
  ['a shutdown (57P01)', pgError('57P01'), 'DATABASE_UNAVAILABLE', true],
  ['a deadlock (40P01)', driverError('40P01'), 'DATABASE_UNAVAILABLE', true],
  ['a lock timeout (55P03)', pgError('55P03'), 'DATABASE_UNAVAILABLE', true],
  ['an I/O error of the server (58030)', pgError('58030'), 'DATABASE_UNAVAILABLE', true],
  ['a connection pg lost', new Error('Connection terminated unexpectedly'), 'DATABASE_UNAVAILABLE', true],
  ['a client pg cannot use', new Error('Client has encountered a connection error and is not queryable'), 'DATABASE_UNAVAILABLE', true],
  ['a refused connection', pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'), 'DATABASE_UNAVAILABLE', true],
  ['a broker away', Object.assign(new Error('Connection timeout'), { name: 'KafkaJSConnectionError', retriable: true }), 'BROKER_UNAVAILABLE', true],
  ['a broker refusing for good', Object.assign(new Error('too large'), { name: 'KafkaJSProtocolError', retriable: false }), 'BROKER_REFUSED', false],
])('%s is %s (retriable: %s)', (_, thrown, code, retriable) => {
  const failure = classify(thrown, { requestId: 'r-1' });
  expect({ code: failure.code, retriable: failure.retriable, requestId: failure.context.requestId }).toEqual({ code, retriable, requestId: 'r-1' });
  if (thrown instanceof Error) expect(failure.cause).toBe(thrown);
});
