// The operators' routes (JSON): what waits for an operator, and putting it back after a fix. Events
// parked because they could not be published, and timers parked because firing them failed on
// their own, are listed and unparked here, declared like every other route (api-schemas.ts), so
// the CLI reaches them with the operator's token and no database credentials of its own.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { EventOutbox } from '../../data-access/event-outbox';
import type { IdempotencyKeys } from '../../data-access/idempotency-keys';
import type { OperationalQueries } from '../../data-access/operational-queries';
import type { Logger } from '../../libraries/logger';
import { accessed } from './access-log';
import * as S from './api-schemas';
import { PARKED_LIMIT } from './api-schemas';
import type { Authenticate } from './auth';
import { HttpError } from './http-errors';
import { IdempotencyHeaders, keyedWrite } from './idempotency';
import { bearer, callerOf, errorsOf, json, signedInWith } from './routes';

export interface OperationsDeps {
  authenticate: Authenticate;
  events: Pick<EventOutbox, 'parked' | 'unpark'>;
  timers: Pick<OperationalQueries, 'parkedTimers' | 'unparkTimers'>;
  /** Who put what back is logged: an unpark changes what the worker does next. */
  logger: Logger;
  /** The callers' Idempotency-Keys of the unparks: a retry gets the first answer (its count). */
  idempotencyKeys: Pick<IdempotencyKeys, 'claim' | 'answer' | 'release'>;
}

const TAG = 'Operations';

/** A list of at most PARKED_LIMIT, from one more read: whether more wait. Its requests are noted for the access log. */
const page = <T extends { requestId: string }>(request: FastifyRequest, rows: T[]) => {
  const items = rows.slice(0, PARKED_LIMIT);
  accessed(request, items.map((r) => r.requestId));
  return { items, more: rows.length > PARKED_LIMIT };
};

/** The /api/parked-* routes, on `app`; `deps()` gives what they need once the worker has started. */
export function registerOperationsApi(app: FastifyInstance, deps: () => OperationsDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const signedIn = signedInWith(() => deps().authenticate);
  /** Every route here is for operators: anyone else is refused before it runs. */
  const operator = async (request: FastifyRequest): Promise<void> => {
    await signedIn(request);
    if (!callerOf(request).roles.includes('operator')) throw new HttpError(403, 'FORBIDDEN', 'only operators see and unpark parked events and timers');
  };
  const write = keyedWrite(() => deps().idempotencyKeys, operator);
  const listErrors = errorsOf(400, 401, 403, 503);
  const unparked = { 200: json(S.Unparked), ...errorsOf(400, 401, 403, 409, 413, 415, 422, 503) };

  api.route({
    method: 'GET',
    url: '/api/parked-events',
    preValidation: operator,
    schema: { ...bearer, operationId: 'listParkedEvents', tags: [TAG], summary: 'Operators: events that could not be published, why, and how many later events of their request wait behind each', response: { 200: json(S.ParkedEvents), ...listErrors } },
    handler: async (request) => page(request, await deps().events.parked(PARKED_LIMIT + 1)),
  });

  api.route({
    method: 'POST',
    url: '/api/parked-events/unpark',
    ...write,
    schema: { ...bearer, headers: IdempotencyHeaders, operationId: 'unparkEvents', tags: [TAG], summary: 'Operators: put parked events back in the queue, after the fix', body: S.UnparkEvents, response: unparked },
    handler: async (request) => {
      const { eventIds } = request.body;
      const count = await deps().events.unpark(eventIds ?? 'all');
      deps().logger.info({ operator: callerOf(request).id, eventIds: eventIds ?? 'all', unparked: count }, 'parked events put back by an operator');
      return { unparked: count };
    },
  });

  api.route({
    method: 'GET',
    url: '/api/parked-timers',
    preValidation: operator,
    schema: { ...bearer, operationId: 'listParkedTimers', tags: [TAG], summary: 'Operators: approvals whose timers were parked because firing them failed on their own, and why', response: { 200: json(S.ParkedTimers), ...listErrors } },
    handler: async (request) => page(request, await deps().timers.parkedTimers(PARKED_LIMIT + 1)),
  });

  api.route({
    method: 'POST',
    url: '/api/parked-timers/unpark',
    ...write,
    schema: { ...bearer, headers: IdempotencyHeaders, operationId: 'unparkTimers', tags: [TAG], summary: 'Operators: put parked timers back, after the fix; what is due fires at the next poll', body: S.UnparkTimers, response: unparked },
    handler: async (request) => {
      const { requestIds } = request.body;
      accessed(request, requestIds ?? []);
      const count = await deps().timers.unparkTimers(requestIds ?? 'all');
      deps().logger.info({ operator: callerOf(request).id, requestIds: requestIds ?? 'all', unparked: count }, 'parked timers put back by an operator');
      return { unparked: count };
    },
  });
}
