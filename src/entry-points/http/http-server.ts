// The worker's HTTP port: liveness, readiness (broker, registry, database reachable and the
// consumer in its group), Prometheus metrics, and the contracts (OpenAPI, AsyncAPI and its Avro schemas).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Metrics } from '../../libraries/metrics';
import type { Logger } from '../../libraries/logger';
import { classify, errorMessage, reportDefect } from '../../libraries/errors';
import { handleApi, type ApiDeps } from './approvals-api';
import { HttpError } from './auth';
import { handleEmailAction, type EmailActionDeps } from './email-actions';
import type { OidcSignIn } from './oidc-sign-in';
import { openApiDocument } from './openapi';
import { AVRO_SCHEMA_FILES, asyncApiDocument } from './asyncapi';

const APPROVER_PAGE = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'templates', 'web', 'approver-page.html'));

export type ReadinessCheck = () => Promise<void>;

export interface HttpServer {
  port: number;
  stop(): Promise<void>;
}

export async function startHttpServer(opts: {
  host: string;
  port: number;
  metrics: Metrics;
  checks: Record<string, ReadinessCheck>;
  /** The API and the approvers' page; undefined when they are switched off (API_ENABLED=false). */
  api: ApiDeps | undefined;
  /** Set when the page signs in through an OpenID Connect provider (AUTH_OIDC_ISSUER). */
  oidcSignIn?: OidcSignIn;
  /** Set when approver emails carry one-click decision links (EMAIL_LINK_SECRET). */
  emailActions?: EmailActionDeps;
  logger: Logger;
}): Promise<HttpServer> {
  const { metrics, checks, api, oidcSignIn, emailActions, logger } = opts;
  const json = (res: http.ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // Every /approvals/<requestId> deep link is the same page; it reads the id from its path.
    const route = `${req.method} ${url.pathname.startsWith('/approvals/') ? '/approvals' : url.pathname}`;
    void (async () => {
      if (await oidcSignIn?.handle(req, res, url)) return;
      const action = emailActions && (await handleEmailAction(emailActions, req, url));
      if (action) {
        // A page of its own: no script, forms only to this origin, nothing cached or sent on as a referrer.
        res.writeHead(action.status, {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
          'cache-control': 'no-store',
          'referrer-policy': 'no-referrer',
        });
        return void res.end(action.html);
      }
      const answer = api && (await handleApi(api, req, url));
      if (answer) return json(res, answer.status, answer.body);
      // The Avro schemas the AsyncAPI document references (./schemas/<name>.avsc), byte for byte.
      const avsc = req.method === 'GET' ? AVRO_SCHEMA_FILES.get(url.pathname) : undefined;
      if (avsc) return void res.writeHead(200, { 'content-type': 'application/json' }).end(avsc);
      switch (route) {
        case 'GET /health/live':
          return json(res, 200, { status: 'live' });
        case 'GET /health/ready': {
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
          return json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks: Object.fromEntries(results) });
        }
        case 'GET /approvals':
          if (!api) break;
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'" }).end(APPROVER_PAGE);
          return;
        case 'GET /auth/methods':
          // Which sign-in the page offers.
          if (!api) break;
          return json(res, 200, { local: api.signInLocally !== undefined, oidc: oidcSignIn !== undefined });
        case 'GET /openapi.json':
          return json(res, 200, openApiDocument);
        case 'GET /asyncapi.json':
          return json(res, 200, asyncApiDocument);
        case 'GET /metrics':
          res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(await metrics.registry.metrics());
          return;
      }
      return json(res, 404, { error: 'NOT_FOUND', message: `no route for ${route}` });
    })().catch((error: unknown) => {
      if (error instanceof HttpError) return json(res, error.status, { error: error.code, message: error.message });
      if (res.headersSent) return;
      const failure = classify(error);
      // A full pool, a statement past its timeout, a database, broker or registry away: the caller may try again.
      if (failure.retriable) {
        logger.warn({ route, code: failure.code, err: error }, 'http request could not be served now');
        res.setHeader('retry-after', '1');
        return json(res, 503, { error: 'UNAVAILABLE', message: 'a service the worker needs is busy or away; try again' });
      }
      // Any other failure answering a request is ours: the caller's input is answered with a 4xx, never a 500.
      reportDefect(failure, 'http', logger, metrics, { route });
      json(res, 500, { error: 'INTERNAL', message: 'internal error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
