// The operators' routes on the audit trail: whether each request's history still is the chain
// the database made as it was stored (what was changed, removed or inserted in the middle), the
// decisions it holds (who decided what, when, for whom) as JSON or CSV, and each request's newest
// hash as of a day's end, to publish where the database's writers cannot change it. Every answer
// is bounded (at most AUDIT_VERIFY_LIMIT requests, AUDIT_EXPORT_LIMIT decisions or
// AUDIT_HEADS_LIMIT heads a call) and continues by cursor. Operators only, like operations-api.ts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuditTrail, ExportPosition } from '../../data-access/audit-trail';
import { idProblem } from '../../domain/validate-message';
import { toCsv } from '../../libraries/csv';
import { accessed } from './access-log';
import * as S from './api-schemas';
import type { Authenticate } from './auth';
import { HttpError } from './http-errors';
import { bearer, callerOf, errorsOf, json, signedInWith } from './routes';

export interface AuditDeps {
  authenticate: Authenticate;
  trail: Pick<AuditTrail, 'verify' | 'decisions' | 'heads'>;
}

const TAG = 'Audit';

/** The export's CSV columns: the fields of an AuditDecision, in their declared order. */
export const DECISION_COLUMNS = Object.keys(S.AuditDecision.shape) as Array<keyof z.infer<typeof S.AuditDecision>>;

/** The decisions as CSV lines (with the header line first, unless `header` is false). */
export const decisionsCsv = (items: ReadonlyArray<z.infer<typeof S.AuditDecision>>, header = true): string => toCsv(DECISION_COLUMNS, items, header);

/** A cursor: where a page ended, as opaque text. */
const cursorOf = (position: object | null): string | null => (position ? Buffer.from(JSON.stringify(position)).toString('base64url') : null);

const anIdIn = z.string().refine((v) => idProblem('the cursor', v) === undefined);
const AfterRequest = z.strictObject({ after: anIdIn });
const AfterEntry = z.strictObject({ occurredAt: z.string().regex(/^\d{4,5}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/), seq: z.string().regex(/^[0-9]{1,19}$/) });

/** Where the previous page ended; a cursor this API did not give out is a 400. */
function positionIn<T>(cursor: string | undefined, shape: z.ZodType<T>): T | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  let decoded: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url');
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const parsed = shape.safeParse(decoded);
  if (!parsed.success) throw new HttpError(400, 'INVALID_CURSOR', 'the cursor is not one this API gave out; start again without a cursor');
  return parsed.data;
}

const DAY_MS = 86_400_000;

/** The /api/audit/* routes, on `app`; `deps()` gives what they need once the worker has started. */
export function registerAuditApi(app: FastifyInstance, deps: () => AuditDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const signedIn = signedInWith(() => deps().authenticate);
  const operator = async (request: FastifyRequest): Promise<void> => {
    await signedIn(request);
    if (!callerOf(request).roles.includes('operator')) throw new HttpError(403, 'FORBIDDEN', 'only operators verify and export the audit trail');
  };

  api.route({
    method: 'GET',
    url: '/api/audit/verification',
    preValidation: operator,
    schema: {
      ...bearer,
      operationId: 'verifyAuditTrail',
      tags: [TAG],
      summary: "Operators: recomputes each request's history chain and names every entry changed, removed or inserted in the middle",
      description: `Every request, or one (request), or those with an entry since a time (since); given both, that request if it has an entry since then. At most ${S.AUDIT_VERIFY_LIMIT.requests} requests a call (fewer when their histories hold more than ${S.AUDIT_VERIFY_LIMIT.entries} entries together): call again with nextCursor until it is null. A request with no history is 404 (when request is given without since)`,
      querystring: S.AuditVerificationQuery,
      response: { 200: json(S.AuditVerification), ...errorsOf(400, 401, 403, 404, 503) },
    },
    handler: async (request) => {
      const { request: requestId, since, cursor } = request.query;
      const after = positionIn(cursor, AfterRequest)?.after;
      const { reports, next } = await deps().trail.verify({ requestId, since, after }, S.AUDIT_VERIFY_LIMIT);
      accessed(request, reports.map((r) => r.requestId));
      if (requestId !== undefined && since === undefined && after === undefined && reports.length === 0) throw new HttpError(404, 'NOT_FOUND', `no history of request ${requestId}`);
      const sum = (count: (r: (typeof reports)[number]) => number) => reports.reduce((total, r) => total + count(r), 0);
      return {
        requests: reports.length,
        entries: sum((r) => r.entries),
        erasedDigests: sum((r) => r.erasedDigests),
        redacted: sum((r) => r.redacted),
        trimmed: sum((r) => (r.trimmed ? 1 : 0)),
        problems: reports.flatMap((r) => r.problems),
        nextCursor: cursorOf(next === null ? null : { after: next }),
      };
    },
  });

  api.route({
    method: 'GET',
    url: '/api/audit/decisions',
    preValidation: operator,
    schema: {
      ...bearer,
      operationId: 'exportAuditDecisions',
      tags: [TAG],
      summary: 'Operators: the decisions the history holds since a time (who decided what, when, acting as what, for whom, why), oldest first, as JSON or CSV',
      description: `At most ${S.AUDIT_EXPORT_LIMIT} a call: call again with nextCursor (JSON) or the Next-Cursor header (CSV) until there is none. In CSV a field a spreadsheet would read as a formula begins with an apostrophe; JSON holds the text as it is`,
      querystring: S.AuditDecisionsQuery,
      response: {
        200: {
          description: 'the decisions, oldest first',
          content: { 'application/json': { schema: S.AuditDecisions }, 'text/csv': { schema: z.string() } },
          headers: { 'Next-Cursor': { description: 'CSV: the cursor of the next page; absent on the last', schema: { type: 'string' } } },
        },
        ...errorsOf(400, 401, 403, 503),
      },
    },
    handler: async (request, reply) => {
      const { since, format, cursor } = request.query;
      const { items, next } = await deps().trail.decisions(since, positionIn<ExportPosition>(cursor, AfterEntry), S.AUDIT_EXPORT_LIMIT);
      accessed(request, items.map((d) => d.requestId));
      const nextCursor = cursorOf(next);
      if (format === 'json') return { items, nextCursor };
      if (nextCursor !== null) reply.header('next-cursor', nextCursor);
      return reply.type('text/csv; charset=utf-8').send(decisionsCsv(items));
    },
  });

  api.route({
    method: 'GET',
    url: '/api/audit/heads',
    preValidation: operator,
    schema: {
      ...bearer,
      operationId: 'listAuditHeads',
      tags: [TAG],
      summary: "Operators: each request's newest history hash at the end of a day (UTC), for the requests with an entry that day",
      description: `What to publish each day where the database's writers cannot change it; a chain later recomputed must still pass through each published hash. At most ${S.AUDIT_HEADS_LIMIT} a call: call again with nextCursor until it is null`,
      querystring: S.AuditHeadsQuery,
      response: { 200: json(S.AuditHeads), ...errorsOf(400, 401, 403, 503) },
    },
    handler: async (request) => {
      const { date, cursor } = request.query;
      const from = Date.parse(`${date}T00:00:00Z`);
      const { items, next } = await deps().trail.heads(from, from + DAY_MS, positionIn(cursor, AfterRequest)?.after, S.AUDIT_HEADS_LIMIT);
      accessed(request, items.map((h) => h.requestId));
      return { date, items, nextCursor: cursorOf(next === null ? null : { after: next }) };
    },
  });
}
