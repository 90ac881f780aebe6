// The worker's HTTP port, on Fastify: probes, metrics, the contracts (OpenAPI made from the routes'
// declarations, AsyncAPI and its Avro schemas), the approvers' page, the API and the operators'
// routes, one-click email actions and sign-in. With METRICS_PORT, probes and metrics are served on
// that port instead, by the same declarations. It listens first, before the worker migrates,
// registers or joins its group: liveness answers from then on, readiness says what start-up waits
// for, and the API answers 503 STARTING until the worker is up (attach).
import fs from 'node:fs';
import path from 'node:path';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError, jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Logger } from '../../libraries/logger';
import type { Metrics } from '../../libraries/metrics';
import { AppError, classify, errorMessage, reportDefect } from '../../libraries/errors';
import { registerAccessLog, type AccessLog } from './access-log';
import { ApproverPage } from '../../adapters/web/approver-page';
import { registerApprovalsApi, type ApiDeps } from './approvals-api';
import { registerAuditApi, type AuditDeps } from './audit-api';
import { AVRO_SCHEMA_FILES, asyncApiDocument } from './asyncapi';
import { registerEmailActions, type EmailActionDeps } from './email-actions';
import { HttpError } from './http-errors';
import { registerOidcSignIn, type OidcSignIn } from './oidc-sign-in';
import { registerOperationsApi, type OperationsDeps } from './operations-api';
import { BEARER_SCHEME, OPENAPI_INFO, OPENAPI_TAGS } from './openapi';
import { anId } from './api-schemas';
import { consumesOf, html, json, withRouteDefaults } from './routes';

const APPROVER_PAGE = new ApproverPage();

/** The largest body the worker reads (a JSON call's, a form's). */
export const BODY_LIMIT = 16_384;

export type ReadinessCheck = () => Promise<void>;

/** What the routes need once the worker has started; until then the API answers 503 STARTING. */
export interface HttpDeps {
  api: ApiDeps | undefined;
  /** The operators' routes, served with the API. */
  operations: OperationsDeps | undefined;
  /** The operators' routes on the audit trail, served with the API. */
  audit: AuditDeps | undefined;
  emailActions: EmailActionDeps | undefined;
  oidcSignIn: OidcSignIn | undefined;
  /** Whether the page and the API can serve (the database answers): /health/ready. */
  serving: Record<string, ReadinessCheck>;
  /** Whether the consumer makes progress (in its group, no partition stalled, timers firing, broker and registry answering): /health/consumer. */
  consuming: Record<string, ReadinessCheck>;
}

export interface HttpServer {
  port: number;
  /** Where probes and metrics are served: their own port (METRICS_PORT), or `port`. */
  metricsPort: number;
  /** The worker is up: the routes serve with these. */
  attach(deps: HttpDeps): void;
  stop(): Promise<void>;
}

const ProbeAnswer = z.object({ status: z.enum(['live', 'ready', 'not ready', 'starting']), waitingFor: z.string().optional(), checks: z.record(z.string(), z.object({ ok: z.boolean(), error: z.string().optional() })).optional() });

/** Where a validation failed, as the caller's mistake: a path, a query, or a body. */
const VALIDATION_CODE = { params: 'INVALID_PATH', querystring: 'INVALID_QUERY', body: 'INVALID_BODY', headers: 'INVALID_HEADER' } as const;

type OpenApiObject = { components?: { schemas?: Record<string, unknown> } } & Record<string, unknown>;

/**
 * The document's components as a reader wants them: the type provider names each schema twice
 * (X as answered, XInput as sent); only those referred to are kept, and an XInput alone is X.
 */
function tidyComponents(document: OpenApiObject): OpenApiObject {
  const schemas = { ...(document.components?.schemas ?? {}) };
  const refs = (value: unknown): string[] => [...JSON.stringify(value).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
  // Referred to from the paths, and from what those refer to.
  const used = new Set(refs(document.paths));
  for (let grew = true; grew; ) {
    grew = false;
    for (const name of [...used]) for (const ref of refs(schemas[name] ?? {})) if (!used.has(ref)) grew = used.add(ref) !== undefined;
  }
  const renamed = new Map([...used].filter((n) => n.endsWith('Input') && !used.has(n.slice(0, -'Input'.length))).map((n) => [n, n.slice(0, -'Input'.length)]));
  const kept = Object.fromEntries([...used].map((name) => [renamed.get(name) ?? name, schemas[name]]));
  const text = JSON.stringify({ ...document, components: { ...document.components, schemas: kept } }).replace(/"#\/components\/schemas\/([^"]+)"/g, (whole, name: string) => (renamed.has(name) ? `"#/components/schemas/${renamed.get(name)}"` : whole));
  return JSON.parse(text) as OpenApiObject;
}

/**
 * A query's parameters, each decoded as UTF-8: a part that does not decode becomes U+FFFD, which
 * no parameter takes (the default parser would pass it on still percent-encoded). A parameter
 * given twice is a list, which no parameter takes either.
 */
function parseQuery(query: string): Record<string, string | string[]> {
  const decode = (part: string): string => {
    try {
      return decodeURIComponent(part.replace(/\+/g, ' '));
    } catch {
      return '\uFFFD';
    }
  };
  const parameters: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>; // a parameter named __proto__ is a parameter
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const [name, value] = at < 0 ? [decode(pair), ''] : [decode(pair.slice(0, at)), decode(pair.slice(at + 1))];
    const before = Object.hasOwn(parameters, name) ? parameters[name] : undefined;
    parameters[name] = before === undefined ? value : [...(Array.isArray(before) ? before : [before]), value];
  }
  return parameters;
}

/** The UTF-8 text of a body, or a 400: a body in another encoding is not the text sent. */
function utf8(body: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new HttpError(400, 'INVALID_JSON', 'the body is not valid UTF-8');
  }
}

interface AppOptions {
  /** Where clients reach the server (the document's servers). */
  publicUrl: string;
  metrics: Metrics;
  logger: Logger;
  /** Where every answer of the API, the one-click links and sign-in is logged. */
  accessLog: AccessLog;
  /** What start-up is doing now, for readiness while it starts. */
  startingStep: () => string;
  /** The page's language when the browser asks for none that is shipped (the emails' EMAIL_LOCALE). */
  pageLanguage?: string;
}

/** What one port serves: everything, everything but probes and metrics, or only those. */
type Serves = 'everything' | 'api' | 'probes';

/** The routes, unbound: the server listens on them, and the released document is made from them. */
async function buildHttpApp(opts: AppOptions, serves: Serves = 'everything'): Promise<{ app: FastifyInstance; attach(deps: HttpDeps): void }> {
  const { metrics, logger } = opts;
  let deps: HttpDeps | undefined;
  const app: FastifyInstance = Fastify({
    bodyLimit: BODY_LIMIT,
    routerOptions: { maxParamLength: 5000, querystringParser: parseQuery },
    return503OnClosing: true,
    // A path that does not decode is the caller's mistake, answered like any other.
    frameworkErrors: (error, _request, reply) => {
      const bad = error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_ASYNC_CONSTRAINT';
      const raw = reply as unknown as { code(status: number): { type(t: string): { send(body: string): void } } };
      raw.code(bad ? 400 : 500).type('application/json').send(JSON.stringify({ error: bad ? 'INVALID_PATH' : 'INTERNAL', message: bad ? 'the path is not valid percent-encoded UTF-8' : 'internal error' }));
    },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onRoute', withRouteDefaults);
  registerAccessLog(app, opts.accessLog);

  // Bodies: JSON and forms, each UTF-8, nothing else (415).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      // No body at all (a DELETE that names its type anyway) is no body, not bad JSON.
      if ((body as Buffer).length === 0) return done(null, undefined);
      done(null, JSON.parse(utf8(body as Buffer)));
    } catch (error) {
      done(error instanceof HttpError ? error : new HttpError(400, 'INVALID_JSON', 'the body is not JSON'), undefined);
    }
  });
  // A form is read as sent (a reason in another encoding shows as not valid text on its page).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams((body as Buffer).toString('utf8')))));
  app.addHook('preValidation', async (request) => {
    const accepts = consumesOf(request.routeOptions.schema);
    if (!accepts) return;
    const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (!type || !accepts.includes(type)) throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', `the body must be ${accepts.join(' or ')}`);
  });
  // A declared body over the limit is answered at once, before it is read.
  app.addHook('onRequest', async (request) => {
    if (Number(request.headers['content-length'] ?? 0) > BODY_LIMIT) throw new HttpError(413, 'BODY_TOO_LARGE', `the body is larger than ${BODY_LIMIT / 1024} KiB`);
  });

  app.setErrorHandler((error: FastifyError | AppError<string>, request, reply) => {
    const answer = (status: number, code: string, message: string) => reply.code(status).send({ error: code, message });
    if (error instanceof HttpError) {
      if (error.status === 503) reply.header('retry-after', '1');
      return answer(error.status, error.code, error.message);
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const where = error.validationContext as keyof typeof VALIDATION_CODE;
      const lines = error.validation.map((v) => {
        const at = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
        return at ? `${at} ${v.message}` : (v.message ?? 'is not valid');
      });
      // A content rule of the domain's (a NUL, a bad address) is INVALID_CONTENT, as in the consumer.
      const content = error.validation.some((v) => (v.params as { params?: { code?: string } }).params?.code === 'INVALID_CONTENT');
      return answer(400, content && where === 'body' ? 'INVALID_CONTENT' : (VALIDATION_CODE[where] ?? 'INVALID_BODY'), lines.join('; '));
    }
    const code = (error as FastifyError).code;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return answer(413, 'BODY_TOO_LARGE', `the body is larger than ${BODY_LIMIT / 1024} KiB`);
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return answer(415, 'UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json');
    if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return answer(400, 'INVALID_JSON', 'the body is not JSON');
    if (code === 'FST_ERR_BAD_URL') return answer(400, 'INVALID_PATH', 'the path is not valid percent-encoded UTF-8');
    const failure = isResponseSerializationError(error) ? classify(new Error(`the answer does not fit its declaration: ${errorMessage(error.cause)}`)) : classify(error);
    // A full pool, a statement past its timeout, a database, broker or registry away: the caller may try again.
    if (failure.retriable) {
      logger.warn({ route: request.routeOptions.url, code: failure.code, err: error }, 'http request could not be served now');
      reply.header('retry-after', '1');
      return answer(503, 'UNAVAILABLE', 'a service the worker needs is busy or away; try again');
    }
    // Any other failure answering a request is ours: the caller's input is answered with a 4xx, never a 500.
    reportDefect(failure, 'http', logger, metrics, { route: request.routeOptions.url });
    return answer(500, 'INTERNAL', 'internal error');
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: 'NOT_FOUND', message: `no route for ${request.method} ${request.url.split('?')[0]}` }));

  if (serves !== 'probes') await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: OPENAPI_INFO,
      servers: [{ url: new URL(opts.publicUrl).origin, description: 'this worker (OPERATOR_URL)' }],
      tags: OPENAPI_TAGS,
      components: { securitySchemes: BEARER_SCHEME },
    },
    transform: jsonSchemaTransform,
    transformObject: (document) => tidyComponents(jsonSchemaTransformObject(document) as OpenApiObject) as ReturnType<typeof jsonSchemaTransformObject>,
  });

  const started = <T>(pick: (d: HttpDeps) => T | undefined, what: string): (() => T) => () => {
    if (!deps) throw new HttpError(503, 'STARTING', `the worker is starting (${opts.startingStep()})`);
    const value = pick(deps);
    if (value === undefined) throw new HttpError(404, 'NOT_FOUND', `${what} is switched off`);
    return value;
  };

  const probe = async (checks: Record<string, ReadinessCheck>) => {
    const results = await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          await Promise.race([check(), new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 2s')), 2000).unref())]);
          return [name, { ok: true }] as const;
        } catch (error) {
          return [name, { ok: false, error: errorMessage(error) }] as const;
        }
      }),
    );
    const ready = results.every(([, r]) => r.ok);
    return { ready, body: { status: ready ? ('ready' as const) : ('not ready' as const), checks: Object.fromEntries(results) } };
  };
  const typed = app.withTypeProvider<import('fastify-type-provider-zod').ZodTypeProvider>();
  const health = { tags: ['Health'], security: [] };
  const attach = (d: HttpDeps): void => void (deps = d);
  // Liveness, the two readiness probes and the metrics.
  if (serves !== 'api') {
    typed.get('/health/live', { schema: { ...health, operationId: 'live', summary: 'Liveness: the process answers (from the moment the port is bound)', response: { 200: json(ProbeAnswer) } } }, async () => ({ status: 'live' as const }));
    for (const [url, pick, summary] of [
      ['/health/ready', (d: HttpDeps) => d.serving, "Readiness of the page and the API: the worker has started and the API's database answers (the broker and the registry are not needed to read)"],
      ['/health/consumer', (d: HttpDeps) => d.consuming, 'Readiness of the consumer: in its group, no partition with work waiting past PARTITION_STALLED_AFTER_MS, no timer that far past due, broker, registry and database answering'],
    ] as const) {
      typed.get(url, { schema: { ...health, operationId: url === '/health/ready' ? 'ready' : 'consuming', summary, response: { 200: json(ProbeAnswer), 503: json(ProbeAnswer, 'not ready, or starting (waitingFor says what start-up waits for)') } } }, async (_request, reply) => {
        if (!deps) return reply.code(503).send({ status: 'starting' as const, waitingFor: opts.startingStep() });
        const { ready, body } = await probe(pick(deps));
        return reply.code(ready ? 200 : 503).send(body);
      });
    }
    typed.get('/metrics', { schema: { ...health, operationId: 'metrics', summary: 'Prometheus metrics', response: { 200: { description: 'the Prometheus text format', content: { 'text/plain': { schema: z.string() } } } } } }, async (_request, reply) => {
      const { contentType, text } = await metrics.exposition();
      return reply.type(contentType).send(text);
    });
  }
  if (serves === 'probes') return { app, attach };
  typed.get('/openapi.json', { schema: { ...health, operationId: 'openApi', summary: 'This document', response: { 200: json(z.looseObject({}), 'the OpenAPI document') } } }, async () => app.swagger() as Record<string, unknown>);
  typed.get('/asyncapi.json', { schema: { ...health, operationId: 'asyncApi', summary: 'The Kafka contract (AsyncAPI), with its Avro schemas under /schemas', response: { 200: json(z.looseObject({}), 'the AsyncAPI document') } } }, async () => asyncApiDocument as Record<string, unknown>);
  typed.get('/schemas/:file', { schema: { ...health, operationId: 'avroSchema', summary: 'An Avro schema the AsyncAPI document references, byte for byte', params: z.strictObject({ file: anId('file') }), response: { 200: json(z.looseObject({}), 'the .avsc file'), 404: json(z.object({ error: z.string(), message: z.string() }), 'no such schema') } } }, async (request, reply) => {
    const avsc = AVRO_SCHEMA_FILES.get(`/schemas/${request.params.file}`);
    if (!avsc) throw new HttpError(404, 'NOT_FOUND', `no schema ${request.params.file}`);
    // The file's own bytes, not a serialisation of them (a Buffer is sent as it is).
    return reply.type('application/json').send(avsc as never);
  });
  // Every /approvals/<requestId> deep link is the same page; it reads the id from its path.
  for (const url of ['/approvals', '/approvals/*']) {
    typed.get(url, { schema: { tags: ['Session'], security: [], operationId: 'approverPage', summary: "The approvers' page (every /approvals/{requestId} deep link is the same page)", ...(url === '/approvals' ? {} : { hide: true, params: z.strictObject({ '*': z.string().max(5000) }) }), response: { 200: html("the approvers' page"), 404: json(z.object({ error: z.string(), message: z.string() }), 'the API is switched off') } } }, async (request, reply) => {
      started((d) => d.api, 'the page')();
      const page = APPROVER_PAGE.html(request.headers['accept-language'], opts.pageLanguage ?? 'en');
      return reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'").header('vary', 'accept-language').send(page as never);
    });
  }
  registerApprovalsApi(app, started((d) => d.api, 'the API'));
  registerOperationsApi(app, started((d) => d.operations, 'the API'));
  registerAuditApi(app, started((d) => d.audit, 'the API'));
  registerEmailActions(app, started((d) => d.emailActions, 'one-click email links'));
  registerOidcSignIn(app, () => started((d) => d.api, 'the API')() && deps?.oidcSignIn);

  return { app, attach };
}

/** The OpenAPI document the routes make, as served at /openapi.json. */
export async function openApiDocument(opts: AppOptions): Promise<Record<string, unknown>> {
  const { app } = await buildHttpApp(opts);
  await app.ready();
  const document = app.swagger() as Record<string, unknown>;
  await app.close();
  return document;
}

/** `probesOnly` (ROLE=relays): probes and metrics alone, on METRICS_PORT if set, else on `port`. */
export async function startHttpServer(opts: AppOptions & { host: string; port: number; metricsPort?: number | undefined; probesOnly?: boolean }): Promise<HttpServer> {
  if (opts.probesOnly) {
    const only = await buildHttpApp(opts, 'probes');
    const asked = opts.metricsPort ?? opts.port;
    await only.app.listen({ host: opts.host, port: asked });
    const address = only.app.server.address();
    const port = typeof address === 'object' && address ? address.port : asked;
    return { port, metricsPort: port, attach: only.attach, stop: () => only.app.close() };
  }
  const separate = opts.metricsPort !== undefined;
  const main = await buildHttpApp(opts, separate ? 'api' : 'everything');
  const probes = separate ? await buildHttpApp(opts, 'probes') : undefined;
  const portOf = (app: FastifyInstance, asked: number): number => {
    const address = app.server.address();
    return typeof address === 'object' && address ? address.port : asked;
  };
  await main.app.listen({ host: opts.host, port: opts.port });
  try {
    await probes?.app.listen({ host: opts.host, port: opts.metricsPort! });
  } catch (error) {
    await main.app.close();
    throw error;
  }
  const port = portOf(main.app, opts.port);
  return {
    port,
    metricsPort: probes ? portOf(probes.app, opts.metricsPort!) : port,
    attach(deps) {
      main.attach(deps);
      probes?.attach(deps);
    },
    stop: async () => {
      await Promise.allSettled([main.app.close(), probes?.app.close()]);
    },
  };
}
