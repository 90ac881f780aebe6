// How a route is declared here: every one takes a query schema (an empty one refuses any
// parameter), JSON bodies need application/json, answers are described with their content, and a
// route for signed-in callers declares bearer security and verifies the token before it validates
// the call: an unauthenticated caller learns nothing of the rules, and a call refused for its
// content is refused to someone known (the access log names them).
import type { FastifyRequest, RouteOptions } from 'fastify';
import { z } from 'zod';
import type { Identity } from '../../domain/callers';
import { ApiError } from './api-schemas';
import type { Authenticate } from './auth';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who calls, once the route's preValidation hook has verified the token. */
    identity?: Identity;
  }
}

/** The document's security of a route that needs a bearer token. */
export const bearer = { security: [{ bearer: [] }] };

/** A hook (a route's preValidation) that verifies the caller's token with `authenticate()` and keeps who it names. */
export const signedInWith = (authenticate: () => Authenticate) => async (request: FastifyRequest): Promise<void> => {
  request.identity = await authenticate()(request.headers.authorization);
};

/** Who calls a route whose hook verified the token. */
export const callerOf = (request: FastifyRequest): Identity => request.identity!;

/** What each error status means, in the document. */
const ERROR_MEANS: Record<number, string> = {
  400: 'the path, query, a header or the body breaks a rule (INVALID_PATH, INVALID_QUERY, INVALID_HEADER, INVALID_BODY, INVALID_JSON, INVALID_CURSOR, INVALID_CONTENT, REASON_REQUIRED, CARD_OUTCOMES_INVALID)',
  401: 'no token, or one that does not verify (TOKEN_MISSING, TOKEN_INVALID)',
  403: 'not allowed (FORBIDDEN, NOT_AN_APPROVER, SELF_APPROVAL, HOLDER_APPROVAL, WITHDRAWAL_NOT_ALLOWED, REASSIGNMENT_NOT_ALLOWED)',
  404: 'no such request, delegation or route (NOT_FOUND, LOCAL_SIGNIN_DISABLED)',
  409: 'the request does not take this now (REQUEST_CLOSED, ALREADY_VOTED, CARD_OUTCOMES_NOT_ALLOWED), or a call with its Idempotency-Key is still running (IDEMPOTENCY_IN_PROGRESS)',
  422: 'the Idempotency-Key was used for another call (IDEMPOTENCY_KEY_REUSED)',
  413: 'the body is larger than 16 KiB (BODY_TOO_LARGE)',
  415: 'the body is not application/json (UNSUPPORTED_MEDIA_TYPE)',
  503: 'starting, or a service the worker needs is busy or away (STARTING, UNAVAILABLE, AUTH_NOT_CONFIGURED): try again after Retry-After seconds',
};

/** An answer with JSON content of `schema`, described. */
export const json = <T extends z.ZodType>(schema: T, description = 'ok') => ({ description, content: { 'application/json': { schema } } });

/** An HTML page answer. */
export const html = (description: string) => ({ description, content: { 'text/html': { schema: z.string() } } });

const retryAfter = { 'Retry-After': { description: 'seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } } };

/** The error answers of a route, each described and of the Error shape; 503 says when to try again. */
export function errorsOf(...statuses: number[]) {
  return Object.fromEntries(statuses.map((status) => [status, { ...json(ApiError, ERROR_MEANS[status] ?? 'error'), ...(status === 503 ? { headers: retryAfter } : {}) }]));
}

/** The content types a route's body may have (its schema's `consumes`; 415 otherwise). */
export const consumesOf = (schema: unknown): string[] | undefined => (schema as { consumes?: string[] } | undefined)?.consumes;

const composed = new WeakSet<object>();

/**
 * The rules every route follows, applied as it is declared (an onRoute hook): with no query schema
 * it takes no query parameter, so unknown ones are refused everywhere; a body is JSON unless the
 * route says otherwise.
 */
export function withRouteDefaults(options: RouteOptions): void {
  const schema = (options.schema ??= {}) as NonNullable<RouteOptions['schema']> & { summary?: string; description?: string; consumes?: string[] };
  // An operation's description is its summary, then what more it has to say (composed once: the
  // HEAD route Fastify adds to a GET shares the GET's schema and comes through here again).
  if (!composed.has(schema)) {
    composed.add(schema);
    schema.description = [schema.summary, schema.description].filter(Boolean).join('. ');
  }
  schema.querystring ??= z.strictObject({}, { error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown parameter(s) ${issue.keys.join(', ')}; this route takes none` : undefined) });
  if (schema.body) schema.consumes ??= ['application/json'];
}
