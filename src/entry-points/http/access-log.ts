// The access log: one line for every answer of the API, the one-click email links and sign-in
// (a read, a search, a write, a refusal), saying who, what, which requests, the status and when.
// A line holds ids and codes only: the caller is their id and roles, a search term its length and
// keyed hash (HMAC-SHA256 under ACCESS_LOG_HASH_KEY), never a name or an address. One hook writes
// it as the answer leaves, from what the request holds by then: the verified caller
// (request.identity), or whom a link or a sign-in names (actedAs), the route, the status, and the
// request ids the call named or returned (accessed).
import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Role } from '../../domain/callers';
import type { Logger } from '../../libraries/logger';
import { PAGE_LIMIT } from './api-schemas';

export interface AccessLog {
  logger: Logger;
  /** The key of the search-term hashes. */
  hashKey: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** What the access log says of this call beyond its route and status. */
    access?: { requestIds: Set<string>; omitted: number; actor?: { id: string; roles: readonly Role[] } };
  }
}

/** The routes logged: the API, the one-click links, and the two answers that sign someone in. */
const LOGGED = /^\/(?:api|email-actions)(?:\/|$)|^\/auth\/(?:local|callback)$/;

/** The most request ids one line names: a page of search results. The rest are counted (a line stays under the 16 KiB log shippers split at). */
export const MAX_IDS_PER_LINE = PAGE_LIMIT.max;

/** Query parameters that are ids or codes, logged as they are. */
const AS_THEY_ARE = ['status', 'operation', 'approver', 'requester', 'sort', 'limit', 'request', 'since', 'format', 'date'];
/** Query parameters of free text, which may be a name: logged as their length and keyed hash. Any other parameter (a cursor) is left out. */
const HASHED = ['q'];

const noted = (request: FastifyRequest) => (request.access ??= { requestIds: new Set(), omitted: 0 });

/** Notes the request ids this call returned or acted on. */
export function accessed(request: FastifyRequest, requestIds: Iterable<string>): void {
  const access = noted(request);
  for (const id of requestIds) {
    if (access.requestIds.size < MAX_IDS_PER_LINE) access.requestIds.add(id);
    else if (!access.requestIds.has(id)) access.omitted += 1;
  }
}

/** Notes who acted where no bearer token says it: the approver a one-click link names, the person signing in. */
export function actedAs(request: FastifyRequest, id: string, roles: readonly Role[]): void {
  noted(request).actor = { id, roles };
}

/**
 * A search term as the access log holds it: its length and the first 16 hex digits of its
 * HMAC-SHA256 under `key`, taken over the term trimmed and in lower case (search ignores case).
 */
export function hashedTerm(term: string, key: string): { length: number; hmac: string } {
  const text = term.trim().toLowerCase();
  return { length: text.length, hmac: createHmac('sha256', key).update(text).digest('hex').slice(0, 16) };
}

function queryFields(query: unknown, key: string): { query?: Record<string, unknown>; terms?: Record<string, { length: number; hmac: string }> } {
  const given = (query ?? {}) as Record<string, unknown>;
  const pick = (names: string[]) => names.filter((name) => given[name] !== undefined);
  const asTheyAre = pick(AS_THEY_ARE);
  const hashed = pick(HASHED);
  return {
    ...(asTheyAre.length ? { query: Object.fromEntries(asTheyAre.map((name) => [name, given[name]])) } : {}),
    ...(hashed.length ? { terms: Object.fromEntries(hashed.map((name) => [name, hashedTerm(String(given[name]), key)])) } : {}),
  };
}

/** Writes a line for every answer of the logged routes, refusals (4xx) and failures included. */
export function registerAccessLog(app: FastifyInstance, log: AccessLog): void {
  app.addHook('onResponse', async (request, reply) => {
    // A path no route has is logged too, without the path (it could hold anything).
    const route = request.routeOptions.url;
    if (!LOGGED.test(route ?? request.url.split('?')[0]!)) return;
    // The request id the path names, if it passes its route's rule (a call refused before it was validated included).
    const path = (request.routeOptions.schema as { params?: z.ZodType } | undefined)?.params?.safeParse(request.params);
    const named = path?.success ? (path.data as { requestId?: unknown }).requestId : undefined;
    if (typeof named === 'string') accessed(request, [named]);
    const caller = request.identity ?? request.access?.actor;
    const omitted = request.access?.omitted ?? 0;
    log.logger.info({
      callerId: caller?.id ?? null,
      callerRoles: caller?.roles ?? [],
      operation: (request.routeOptions.schema as { operationId?: string } | undefined)?.operationId ?? null,
      method: request.method,
      route: route ?? null,
      status: reply.statusCode,
      requestIds: [...(request.access?.requestIds ?? [])],
      ...(omitted ? { requestIdsOmitted: omitted } : {}),
      ...queryFields(request.query, log.hashKey),
      ...(reply.getHeader('idempotent-replayed') === 'true' ? { replayed: true } : {}),
    });
  });
}
