// The approvals API (JSON), one declaration per route: its path parameters, query, body and
// answers are zod schemas (api-schemas.ts) that validate the call, serialise the answer, and make
// the OpenAPI document. Reads come from Postgres; decisions are published on the decisions topic
// and answered 202 (the worker stays the only writer of approval state), refused at once with the
// worker's own code where the API holds the facts.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApprovalQueries, SearchFilter } from '../../data-access/approval-queries';
import type { IdempotencyKeys } from '../../data-access/idempotency-keys';
import type { Delegations } from '../../data-access/delegations';
import { InvalidCursorError, decodeCursor, encodeCursor, type Position, type Sort } from '../../data-access/request-order';
import { samePerson, type Delegation } from '../../domain/approval-policy';
import { canSee, decisionBy, personOf, reassignmentBy, tasksOf, type Identity } from '../../domain/callers';
import type { ApprovalDecision } from '../../domain/card-operation';
import { accessed, actedAs } from './access-log';
import * as S from './api-schemas';
import { DELEGATION_MAX_DAYS, PAGE_LIMIT, REASSIGN_ALL_LIMIT } from './api-schemas';
import type { Authenticate } from './auth';
import { HttpError, orRefuse, refused } from './http-errors';
import { IdempotencyHeaders, effectId, keyedWrite } from './idempotency';
import { bearer, callerOf, errorsOf, json, signedInWith } from './routes';

export { PAGE_LIMIT };

export interface ApiDeps {
  authenticate: Authenticate;
  /** Set only when local sign-in is enabled: mints a token for the identity the page names. */
  signInLocally?: (identity: Identity) => Promise<string>;
  queries: ApprovalQueries;
  delegations: Pick<Delegations, 'create' | 'get' | 'revoke' | 'list' | 'inForceTo'>;
  /** Publishes decisions in one send, in order. */
  publishDecisions(decisions: ApprovalDecision[]): Promise<void>;
  /** The callers' Idempotency-Keys of the writes. */
  idempotencyKeys: Pick<IdempotencyKeys, 'claim' | 'answer' | 'release'>;
  /** Whether the page offers sign-in through an identity provider. */
  oidc: boolean;
}

/** The delegations in force to an approver (a stand-in decides and sees like whom they stand in for). */
const standInsOf = (deps: ApiDeps, who: Identity): Promise<Delegation[]> => (who.roles.includes('approver') ? deps.delegations.inForceTo(who) : Promise.resolve([]));

/** Where the caller's previous page ended, in the order asked for now; a cursor we did not give out is a 400. */
function cursorIn(cursor: string | undefined, sort: Sort): Position | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    return decodeCursor(cursor, sort);
  } catch (error) {
    if (error instanceof InvalidCursorError) throw new HttpError(400, 'INVALID_CURSOR', `${error.message}; start again without a cursor`);
    throw error;
  }
}

const cursorOf = (position: Position | null): string | null => (position ? encodeCursor(position) : null);
const accepted = (d: ApprovalDecision) => ({ decisionId: d.decisionId, requestId: d.requestId, status: 'PUBLISHED' as const, poll: `/api/requests/${encodeURIComponent(d.requestId)}` });

/** The request `requestId`, if the caller may see it (404 and 403 otherwise). */
async function visibleRequest(deps: ApiDeps, who: Identity, requestId: string, standIns: Delegation[]): Promise<NonNullable<Awaited<ReturnType<ApprovalQueries['get']>>>> {
  const found = await deps.queries.get(requestId);
  if (!found) throw new HttpError(404, 'NOT_FOUND', `no request ${requestId}`);
  if (!canSee(who, found.record, standIns)) throw new HttpError(403, 'FORBIDDEN', "only the request's approvers, its requester and operators may see it");
  return found;
}

const asked = (body: z.output<typeof S.DecisionRequest>) => ({
  decision: body.decision,
  reason: body.reason?.trim() ? body.reason : null,
  cardOutcomes: (body.cards ?? []).map((c) => ({ cardIndex: c.cardIndex, outcome: c.decision, reason: c.reason?.trim() ? c.reason : null })),
});

const TAGS = { requests: 'Requests', decisions: 'Decisions', delegations: 'Delegations', session: 'Session' } as const;

/** The /api routes and the page's local sign-in, on `app`; `deps()` gives what they need once the worker has started. */
export function registerApprovalsApi(app: FastifyInstance, deps: () => ApiDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  /** Who calls: every /api route needs a token the authenticator accepts. */
  const signedIn = signedInWith(() => deps().authenticate);
  const who = callerOf;
  /** A write: signed in, and safe to retry with an Idempotency-Key (its header declared with the route's schema). */
  const write = keyedWrite(() => deps().idempotencyKeys, signedIn);

  api.route({
    method: 'GET',
    url: '/api/me',
    preValidation: signedIn,
    schema: { ...bearer, operationId: 'getMe', tags: [TAGS.session], summary: 'Who the token says the caller is', response: { 200: json(S.Me), ...errorsOf(401, 503) } },
    handler: async (request) => who(request),
  });

  api.route({
    method: 'GET',
    url: '/api/requests',
    preValidation: signedIn,
    schema: {
      ...bearer,
      operationId: 'searchRequests',
      tags: [TAGS.requests],
      summary: 'Search approval requests (approvers see the requests they approve, requesters their own; operators see all)',
      querystring: S.SearchQuery,
      response: { 200: json(S.SearchResult), ...errorsOf(400, 401, 503) },
    },
    handler: async (request) => {
      const q = request.query;
      const caller = who(request);
      const filter: SearchFilter = {
        status: q.status,
        operation: q.operation,
        approverId: q.approver?.trim(),
        requesterId: q.requester?.trim(),
        text: q.q?.trim(),
        visibleTo: caller.roles.includes('operator') ? undefined : caller.id,
        sort: q.sort,
        after: cursorIn(q.cursor, q.sort),
        limit: q.limit,
      };
      const { items, next, total, totalCapped } = await deps().queries.search(filter);
      accessed(request, items.map((r) => r.requestId));
      return { items, nextCursor: cursorOf(next), total, totalCapped };
    },
  });

  api.route({
    method: 'GET',
    url: '/api/tasks',
    preValidation: signedIn,
    schema: {
      ...bearer,
      operationId: 'listTasks',
      tags: [TAGS.requests],
      summary: "The signed-in approver's open tasks, postponed ones included, oldest first: the requests they may still vote on, and those of the approvers they stand in for",
      querystring: S.TasksQuery,
      response: { 200: json(S.Tasks), ...errorsOf(400, 401, 403, 503) },
    },
    handler: async (request) => {
      const caller = who(request);
      if (!caller.roles.includes('approver')) throw new HttpError(403, 'NOT_AN_APPROVER', 'only approvers have tasks');
      const d = deps();
      const read = (ids: string[], limit: number, after: Position | undefined) => d.queries.pendingFor(ids, limit, after);
      const { items, next } = await tasksOf(read, caller, await standInsOf(d, caller), request.query.limit, cursorIn(request.query.cursor, 'opened_at'), Date.now());
      accessed(request, items.map((r) => r.requestId));
      return { items, nextCursor: cursorOf(next) };
    },
  });

  api.route({
    method: 'GET',
    url: '/api/requests/:requestId',
    preValidation: signedIn,
    schema: {
      ...bearer,
      operationId: 'getRequest',
      tags: [TAGS.requests],
      summary: 'One request with its full history',
      params: S.RequestPath,
      response: { 200: json(S.RequestWithHistory), ...errorsOf(400, 401, 403, 404, 503) },
    },
    handler: async (request) => {
      const d = deps();
      const caller = who(request);
      const { record, history } = await visibleRequest(d, caller, request.params.requestId, await standInsOf(d, caller));
      return { record, history };
    },
  });

  api.route({
    method: 'GET',
    url: '/api/requests/:requestId/history',
    preValidation: signedIn,
    schema: {
      ...bearer,
      operationId: 'getRequestHistory',
      tags: [TAGS.requests],
      summary: "One request's history with each entry's facts, and when the request expires",
      params: S.RequestPath,
      response: { 200: json(S.RequestHistory), ...errorsOf(400, 401, 403, 404, 503) },
    },
    handler: async (request) => {
      const d = deps();
      const caller = who(request);
      const { history, expiresAt } = await visibleRequest(d, caller, request.params.requestId, await standInsOf(d, caller));
      return { history, expiresAt };
    },
  });

  api.route({
    method: 'POST',
    url: '/api/requests/:requestId/decisions',
    ...write,
    schema: {
      ...bearer,
      operationId: 'decide',
      tags: [TAGS.decisions],
      summary: "Decide as the token's approver (or as a delegate for one), or withdraw as the request's requester or an operator; published on the decisions topic",
      description: S.DECISION_REFUSED_AT_ONCE,
      params: S.RequestPath,
      headers: IdempotencyHeaders,
      body: S.DecisionRequest,
      response: { 202: json(S.DecisionAccepted, 'published; poll the request for the outcome'), ...errorsOf(400, 401, 403, 404, 409, 413, 415, 422, 503) },
    },
    handler: async (request, reply) => {
      const d = deps();
      const caller = who(request);
      const standIns = await standInsOf(d, caller);
      const { record, expiresAt } = await visibleRequest(d, caller, request.params.requestId, standIns);
      const decision = orRefuse(decisionBy(record, caller, asked(request.body), { standIns, expiresAt, now: Date.now(), decisionId: effectId(request, record.requestId) }));
      await d.publishDecisions([decision]);
      return reply.code(202).send(accepted(decision));
    },
  });

  api.route({
    method: 'POST',
    url: '/api/requests/:requestId/reassign',
    ...write,
    schema: {
      ...bearer,
      operationId: 'reassign',
      tags: [TAGS.decisions],
      summary: "An operator hands one approver's part in this request to another person; published on the decisions topic as REASSIGNED",
      description: S.REASSIGNMENT_REFUSED_AT_ONCE,
      params: S.RequestPath,
      headers: IdempotencyHeaders,
      body: S.Reassignment,
      response: { 202: json(S.DecisionAccepted, "published; the request's history shows REASSIGNED"), ...errorsOf(400, 401, 403, 404, 409, 413, 415, 422, 503) },
    },
    handler: async (request, reply) => {
      const d = deps();
      const caller = who(request);
      if (!caller.roles.includes('operator')) throw new HttpError(403, 'REASSIGNMENT_NOT_ALLOWED', 'only operators reassign requests');
      const { record } = await visibleRequest(d, caller, request.params.requestId, []);
      const reassignment = orRefuse(reassignmentBy(record, caller, request.body.from.trim(), request.body.to, Date.now(), effectId(request, record.requestId)));
      await d.publishDecisions([reassignment]);
      return reply.code(202).send(accepted(reassignment));
    },
  });

  api.route({
    method: 'POST',
    url: '/api/reassignments',
    ...write,
    schema: {
      ...bearer,
      operationId: 'reassignAll',
      tags: [TAGS.decisions],
      summary: "An operator hands one approver's part in all their pending requests to another person",
      description: `Each request refused is listed under refused. ${S.REASSIGNMENT_REFUSED_AT_ONCE}`,
      headers: IdempotencyHeaders,
      body: S.Reassignment,
      response: { 200: json(S.ReassignmentResult), ...errorsOf(400, 401, 403, 409, 413, 415, 422, 503) },
    },
    handler: async (request) => {
      const d = deps();
      const caller = who(request);
      if (!caller.roles.includes('operator')) throw new HttpError(403, 'REASSIGNMENT_NOT_ALLOWED', 'only operators reassign requests');
      const fromId = request.body.from.trim();
      const open = await d.queries.openWith(fromId, REASSIGN_ALL_LIMIT + 1);
      accessed(request, open.slice(0, REASSIGN_ALL_LIMIT).map((r) => r.requestId));
      const moved: ApprovalDecision[] = [];
      const refusals: Array<{ requestId: string; status: number; error: string; message: string }> = [];
      const now = Date.now();
      for (const record of open.slice(0, REASSIGN_ALL_LIMIT)) {
        const answer = reassignmentBy(record, caller, fromId, request.body.to, now, effectId(request, record.requestId));
        if ('decision' in answer) moved.push(answer.decision);
        else {
          const error = refused(answer.refusal);
          refusals.push({ requestId: record.requestId, status: error.status, error: error.code, message: error.message });
        }
      }
      for (let i = 0; i < moved.length; i += S.BULK_LIMIT) await d.publishDecisions(moved.slice(i, i + S.BULK_LIMIT));
      return { reassigned: moved.map((m) => m.requestId), refused: refusals, more: open.length > REASSIGN_ALL_LIMIT };
    },
  });

  api.route({
    method: 'POST',
    url: '/api/decisions',
    ...write,
    schema: {
      ...bearer,
      operationId: 'decideMany',
      tags: [TAGS.decisions],
      summary: `Many decisions in one call (1 to ${S.BULK_LIMIT}), each with its own decisionId and result; the accepted ones are published in one send`,
      description: `Each is refused, in its result, as its single call would be. ${S.DECISION_REFUSED_AT_ONCE}`,
      headers: IdempotencyHeaders,
      body: S.BulkDecisionRequest,
      response: { 200: json(S.BulkDecisionResult), ...errorsOf(400, 401, 409, 413, 415, 422, 503) },
    },
    handler: async (request) => {
      const d = deps();
      const caller = who(request);
      const items = request.body.decisions;
      accessed(request, items.map((i) => i.requestId));
      // A request twice in one call is refused whole, before anything is published: which one counts would be a guess.
      if (new Set(items.map((i) => i.requestId)).size < items.length) throw new HttpError(400, 'INVALID_BODY', 'a request appears more than once');
      const standIns = await standInsOf(d, caller);
      const now = Date.now();
      const results = await Promise.all(
        items.map(async ({ requestId, ...body }) => {
          try {
            const { record, expiresAt } = await visibleRequest(d, caller, requestId, standIns);
            return { approval: orRefuse(decisionBy(record, caller, asked(body), { standIns, expiresAt, now, decisionId: effectId(request, record.requestId) })) };
          } catch (error) {
            if (!(error instanceof HttpError)) throw error;
            return { refused: { requestId, status: error.status, error: error.code, message: error.message } };
          }
        }),
      );
      const approvals = results.flatMap((r) => (r.approval ? [r.approval] : []));
      if (approvals.length > 0) await d.publishDecisions(approvals);
      return { results: results.map((r) => (r.approval ? { ...accepted(r.approval), status: 202 as const } : r.refused!)) };
    },
  });

  api.route({
    method: 'GET',
    url: '/api/delegations',
    preValidation: signedIn,
    schema: { ...bearer, operationId: 'listDelegations', tags: [TAGS.delegations], summary: 'Delegations from or to the caller (operators: all)', response: { 200: json(S.Delegations), ...errorsOf(401, 503) } },
    handler: async (request) => {
      const caller = who(request);
      return { items: await deps().delegations.list(caller.roles.includes('operator') ? undefined : caller.id) };
    },
  });

  api.route({
    method: 'POST',
    url: '/api/delegations',
    ...write,
    schema: {
      ...bearer,
      operationId: 'createDelegation',
      tags: [TAGS.delegations],
      summary: 'Set up a delegation: an approver for themselves, an operator for anyone. Written by the API directly (not through Kafka); the worker reads it when a delegate decides.',
      headers: IdempotencyHeaders,
      body: S.NewDelegation,
      response: { 201: json(S.Delegation, 'set up'), ...errorsOf(400, 401, 403, 409, 413, 415, 422, 503) },
    },
    handler: async (request, reply) => {
      const caller = who(request);
      const operator = caller.roles.includes('operator');
      const { delegate, startsAt, endsAt, approver } = request.body;
      if (!operator && !caller.roles.includes('approver')) throw new HttpError(403, 'NOT_AN_APPROVER', 'only approvers delegate');
      if (approver !== undefined && !operator) throw new HttpError(403, 'FORBIDDEN', 'only an operator sets up a delegation for someone else');
      if (approver === undefined && operator) throw new HttpError(400, 'INVALID_BODY', 'an operator names the approver a delegation is for (approver)');
      const from = approver ?? personOf(caller);
      const now = Date.now();
      const start = startsAt ?? now;
      if (endsAt <= start || endsAt <= now || endsAt - start > DELEGATION_MAX_DAYS * 86_400_000) {
        throw new HttpError(400, 'INVALID_BODY', `startsAt (optional, default now) and endsAt are ISO times, endsAt later than both now and startsAt, at most ${DELEGATION_MAX_DAYS} days apart`);
      }
      if (samePerson(from, delegate)) throw new HttpError(400, 'INVALID_BODY', 'a delegate is someone else');
      return reply.code(201).send(await deps().delegations.create(effectId(request), { approver: from, delegate, startsAt: start, endsAt }, personOf(caller)));
    },
  });

  api.route({
    method: 'DELETE',
    url: '/api/delegations/:delegationId',
    preValidation: signedIn,
    schema: {
      ...bearer,
      operationId: 'revokeDelegation',
      tags: [TAGS.delegations],
      summary: 'Revoke a delegation (its approver, or an operator). It gives nothing from then on, to decisions still on their way included.',
      params: S.DelegationPath,
      response: { 200: json(S.RevokedDelegation), ...errorsOf(400, 401, 403, 404, 503) },
    },
    handler: async (request) => {
      const d = deps();
      const caller = who(request);
      const found = await d.delegations.get(request.params.delegationId);
      if (!found) throw new HttpError(404, 'NOT_FOUND', 'no such delegation');
      if (!caller.roles.includes('operator') && !samePerson(found.approver, caller)) throw new HttpError(403, 'FORBIDDEN', 'only its approver or an operator revokes a delegation');
      const revoked = await d.delegations.revoke(found.delegationId, personOf(caller));
      return { ...(await d.delegations.get(found.delegationId))!, revoked };
    },
  });

  api.route({
    method: 'GET',
    url: '/auth/methods',
    schema: { operationId: 'signInMethods', tags: [TAGS.session], security: [], summary: 'Which sign-in the page offers', response: { 200: json(S.SignInMethods), ...errorsOf(503) } },
    handler: async () => ({ local: deps().signInLocally !== undefined, oidc: deps().oidc }),
  });

  api.route({
    method: 'POST',
    url: '/auth/local',
    schema: {
      operationId: 'signInLocally',
      tags: [TAGS.session],
      security: [],
      summary: 'Local development only (AUTH_LOCAL_SIGNIN): a token for the identity given',
      body: S.LocalSignIn,
      response: { 200: json(S.LocalToken), ...errorsOf(400, 404, 413, 415, 503) },
    },
    handler: async (request) => {
      const signIn = deps().signInLocally;
      if (!signIn) throw new HttpError(404, 'LOCAL_SIGNIN_DISABLED', 'local sign-in is off (AUTH_LOCAL_SIGNIN)');
      const { id, name, email, roles } = request.body;
      const token = await signIn({ id: id.trim(), name, email, roles });
      actedAs(request, id.trim(), roles);
      return { token };
    },
  });
}
