// The operators' routes (JSON): what waits for an operator, and putting it back after a fix. Events
// parked because they could not be published, and timers parked because firing them failed on
// their own, are listed and unparked here, declared like every other route (api-schemas.ts), so
// the CLI reaches them with the operator's token and no database credentials of its own.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { EventOutbox } from '../../data-access/event-outbox';
import type { IdempotencyKeys } from '../../data-access/idempotency-keys';
import type { OperationalQueries } from '../../data-access/operational-queries';
import type { PersonalDataStore } from '../../data-access/personal-data';
import type { ErasePerson } from '../../domain/erase-person';
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
  /** A person's data: erased, or exported. */
  personalData: { erase: ErasePerson; exportOf: PersonalDataStore['exportOf'] };
}

const TAG = 'Operations';
const PERSONAL_DATA = 'Personal data';

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
    if (!callerOf(request).roles.includes('operator')) throw new HttpError(403, 'FORBIDDEN', 'only operators see and unpark parked events and timers, and erase or export a person\'s data');
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

  api.route({
    method: 'POST',
    url: '/api/personal-data/erasures',
    ...write,
    schema: {
      ...bearer,
      headers: IdempotencyHeaders,
      operationId: 'erasePerson',
      tags: [PERSONAL_DATA],
      summary: 'Operators: erase one person (GDPR Article 17)',
      description: [
        'Their pending approvals end or move first: where they are the requester or a card holder the approval is withdrawn (reason "erased");',
        "where they are an approver their part goes to the first member of the operation's approver group who may take it, and without one the approval is withdrawn.",
        'Then every row naming them (records, decisions, history, outboxes, delegations, timers) names one pseudonym instead, and emails to them not yet sent are dropped.',
        'Events already on Kafka, emails already delivered and backups are not reached.',
      ].join(' '),
      body: S.PersonNamed,
      response: { 200: json(S.Erasure), ...errorsOf(400, 401, 403, 409, 413, 415, 422, 503) },
    },
    handler: async (request) => {
      const report = await deps().personalData.erase(request.body.person, callerOf(request));
      accessed(request, [...report.withdrawn, ...report.reassigned.map((r) => r.requestId)]);
      // The log names the pseudonym and what changed, never the person.
      deps().logger.info({ operator: callerOf(request).id, pseudonym: report.pseudonym?.id ?? null, withdrawn: report.withdrawn.length, reassigned: report.reassigned.length, rows: report.rows }, 'person erased by an operator');
      return report;
    },
  });

  api.route({
    method: 'POST',
    url: '/api/personal-data/exports',
    preValidation: operator,
    schema: {
      ...bearer,
      operationId: 'exportPersonalData',
      tags: [PERSONAL_DATA],
      summary: "Operators: every stored row naming one person, for their access request (GDPR Article 15); a POST so the person's address stays out of URLs and logs",
      body: S.PersonNamed,
      response: { 200: json(S.PersonalData), ...errorsOf(400, 401, 403, 404, 413, 415, 503) },
    },
    handler: async (request) => {
      const found = await deps().personalData.exportOf(request.body.person);
      if (!found) throw new HttpError(404, 'NOT_FOUND', 'no stored row names this person');
      return found as never;
    },
  });
}
