// Sign-in on the approvers' page through an OpenID Connect provider: the authorization code flow
// with PKCE (S256), with this worker as the client.
//
//   GET /auth/login     a fresh state and code verifier go into a short-lived HttpOnly cookie; the
//                       browser is sent to the provider with the state and the code challenge.
//   GET /auth/callback  the state must match the cookie's (and the `iss` the provider's); only then
//                       is the code redeemed, server to server, with the verifier. The access token
//                       must pass the API's own verifier (auth.ts) before the page gets it.
//
// The page never talks to the provider, so the provider needs no CORS and the page's content
// security policy stays `'self'`; the verifier never reaches page script. Codes and tokens are
// never logged: the log says what happened, with the subject once signed in.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { OidcSignInSettings } from '../../libraries/config';
import type { Logger } from '../../libraries/logger';
import { errorMessage } from '../../libraries/errors';
import type { Authenticate } from './auth';
import { actedAs } from './access-log';
import { HttpError } from './http-errors';
import { errorsOf } from './routes';

export interface OidcSignIn {
  /**
   * Answers GET /auth/login and GET /auth/callback; returns false for any other request.
   * `signedIn` hears whom a callback signs in (their id), before the answer is written.
   */
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, signedIn?: (id: string) => void): Promise<boolean>;
}

/** How long a sign-in may take at the provider before its callback is refused. */
export const SIGN_IN_WINDOW_S = 600;
const DISCOVERY_CACHE_MS = 3600_000;
const PROVIDER_TIMEOUT_MS = 5000;

interface ProviderMetadata {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  /** The provider puts `iss` in its authorization responses (RFC 9207): then it must be there. */
  issInResponse: boolean;
}

/** A refusal shown to the person signing in (its code goes to the log too): an HttpError of its own kind. */
const SignInRefused = HttpError;
type SignInRefused = HttpError;

const base64url = (bytes: Buffer): string => bytes.toString('base64url');
const sameText = (a: string, b: string): boolean => {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
};
const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function createOidcSignIn(settings: OidcSignInSettings, authenticate: Authenticate, logger: Logger): OidcSignIn {
  const secure = new URL(settings.redirectUrl).protocol === 'https:';
  // __Host-: only this host can set it (no sibling subdomain can plant its own state), only over https.
  const cookieName = secure ? '__Host-card-approvals-sign-in' : 'card-approvals-sign-in';
  // Lax, not Strict: the provider's redirect back to the callback is a cross-site navigation.
  const cookie = (value: string, maxAge: number): string => `${cookieName}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
  const discovery = providerMetadata(settings.issuer);

  async function login(res: http.ServerResponse): Promise<void> {
    const provider = await discovery();
    const state = base64url(randomBytes(32));
    const verifier = base64url(randomBytes(32));
    const target = new URL(provider.authorizationEndpoint);
    const params: Record<string, string> = {
      response_type: 'code',
      client_id: settings.clientId,
      redirect_uri: settings.redirectUrl,
      scope: settings.scopes,
      state,
      code_challenge: base64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      ...(settings.resource ? { resource: settings.resource } : {}),
    };
    for (const [name, value] of Object.entries(params)) target.searchParams.set(name, value);
    const expires = Math.floor(Date.now() / 1000) + SIGN_IN_WINDOW_S;
    res
      .writeHead(302, { location: target.toString(), 'set-cookie': cookie(`${state}.${verifier}.${expires}`, SIGN_IN_WINDOW_S), 'cache-control': 'no-store' })
      .end();
  }

  /** The identity and its token, or a refusal. The cookie is spent either way. */
  async function callback(req: http.IncomingMessage, url: URL): Promise<{ token: string; id: string }> {
    const pending = pendingSignIn(req.headers.cookie, cookieName);
    if (!pending || pending.expires < Date.now() / 1000) {
      throw new SignInRefused(400, 'NO_SIGN_IN_PENDING', 'No sign-in was started in this browser in the last 10 minutes. Start again from the page.');
    }
    const state = url.searchParams.get('state');
    if (state === null || !sameText(state, pending.state)) {
      throw new SignInRefused(400, 'STATE_MISMATCH', 'This answer does not belong to the sign-in started in this browser. Start again from the page.');
    }
    const provider = await discovery();
    const iss = url.searchParams.get('iss');
    if ((iss !== null || provider.issInResponse) && iss !== settings.issuer) {
      throw new SignInRefused(400, 'ISSUER_MISMATCH', 'This answer does not come from the configured identity provider.');
    }
    const error = url.searchParams.get('error');
    if (error !== null) {
      const code = /^[\w.-]{1,64}$/.test(error) ? error : 'error';
      throw new SignInRefused(403, 'PROVIDER_REFUSED', `The identity provider did not sign you in (${code}).`);
    }
    const code = url.searchParams.get('code');
    if (!code) throw new SignInRefused(400, 'CODE_MISSING', 'The identity provider sent no authorization code.');
    const token = await redeem(provider, code, pending.verifier);
    try {
      const who = await authenticate(`Bearer ${token}`);
      return { token, id: who.id };
    } catch (refusal) {
      if (!(refusal instanceof HttpError)) throw refusal;
      throw new SignInRefused(403, 'TOKEN_NOT_ACCEPTED', `You are signed in at the identity provider, but its token is not accepted here: ${refusal.message}`);
    }
  }

  async function redeem(provider: ProviderMetadata, code: string, verifier: string): Promise<string> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    // RFC 6749 2.3.1: id and secret are form-encoded before they are joined.
    if (settings.clientSecret) headers.authorization = `Basic ${Buffer.from(`${formEncode(settings.clientId)}:${formEncode(settings.clientSecret)}`).toString('base64')}`;
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: settings.redirectUrl,
      code_verifier: verifier,
      ...(settings.clientSecret ? {} : { client_id: settings.clientId }),
      ...(settings.resource ? { resource: settings.resource } : {}),
    });
    let answer: Response;
    try {
      answer = await fetch(provider.tokenEndpoint, { method: 'POST', headers, body, redirect: 'error', signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS) });
    } catch (error) {
      throw new SignInRefused(502, 'PROVIDER_UNAVAILABLE', `The identity provider's token endpoint did not answer (${errorMessage(error)}).`);
    }
    const json = (await answer.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (!answer.ok || !json) {
      // Only the standard error code: nothing the provider echoes back reaches the log or the page.
      const error = typeof json?.error === 'string' && /^[\w.-]{1,64}$/.test(json.error) ? json.error : `HTTP ${answer.status}`;
      throw new SignInRefused(502, 'CODE_NOT_REDEEMED', `The identity provider did not exchange the code (${error}).`);
    }
    if (typeof json.access_token !== 'string' || typeof json.token_type !== 'string' || json.token_type.toLowerCase() !== 'bearer') {
      throw new SignInRefused(502, 'CODE_NOT_REDEEMED', 'The identity provider answered without a bearer access token.');
    }
    return json.access_token;
  }

  return {
    async handle(req, res, url, signedIn) {
      if (req.method !== 'GET' || (url.pathname !== '/auth/login' && url.pathname !== '/auth/callback')) return false;
      try {
        if (url.pathname === '/auth/login') {
          await login(res);
          return true;
        }
        try {
          const { token, id } = await callback(req, url);
          logger.info({ sub: id }, 'signed in through the identity provider');
          signedIn?.(id);
          handOver(res, token, settings.pageUrl, cookie('', 0));
        } catch (error) {
          if (!(error instanceof SignInRefused)) throw error;
          logger.warn({ refusal: error.code, reason: error.message }, 'sign-in refused');
          refusalPage(res, error, settings.pageUrl, cookie('', 0));
        }
      } catch (error) {
        if (!(error instanceof SignInRefused)) throw error;
        logger.warn({ refusal: error.code, reason: error.message }, 'sign-in could not start');
        refusalPage(res, error, settings.pageUrl);
      }
      return true;
    },
  };
}

const formEncode = (text: string): string => encodeURIComponent(text).replace(/%20/g, '+');

function pendingSignIn(cookieHeader: string | undefined, name: string): { state: string; verifier: string; expires: number } | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const [key, value] = part.trim().split('=', 2);
    if (key !== name || !value) continue;
    const match = /^([\w-]{43})\.([\w-]{43})\.(\d{1,12})$/.exec(value);
    if (match) return { state: match[1]!, verifier: match[2]!, expires: Number(match[3]) };
  }
  return undefined;
}

/**
 * The provider's endpoints from its discovery document, fetched on first use (the worker starts
 * and serves the API while the provider is away) and kept for an hour; failures are not kept.
 */
function providerMetadata(issuer: string): () => Promise<ProviderMetadata> {
  let cached: { at: number; metadata: Promise<ProviderMetadata> } | undefined;
  const fetchMetadata = async (): Promise<ProviderMetadata> => {
    const address = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let doc: Record<string, unknown>;
    try {
      const answer = await fetch(address, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS) });
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      doc = (await answer.json()) as Record<string, unknown>;
    } catch (error) {
      throw new SignInRefused(502, 'PROVIDER_UNAVAILABLE', `The identity provider's discovery document could not be read (${errorMessage(error)}).`);
    }
    const problem = (text: string): SignInRefused => new SignInRefused(502, 'PROVIDER_MISCONFIGURED', `The identity provider's discovery document ${text}.`);
    if (doc.issuer !== issuer) throw problem(`names another issuer than AUTH_OIDC_ISSUER`);
    const endpoint = (name: string): string => {
      const value = doc[name];
      const issuerProtocol = new URL(issuer).protocol;
      if (typeof value !== 'string' || !URL.canParse(value) || new URL(value).protocol !== issuerProtocol) throw problem(`has no ${issuerProtocol.slice(0, -1)} ${name}`);
      return value;
    };
    const methods = doc.code_challenge_methods_supported;
    if (Array.isArray(methods) && !methods.includes('S256')) throw problem('does not offer PKCE with S256');
    return {
      authorizationEndpoint: endpoint('authorization_endpoint'),
      tokenEndpoint: endpoint('token_endpoint'),
      issInResponse: doc.authorization_response_iss_parameter_supported === true,
    };
  };
  return () => {
    if (!cached || Date.now() - cached.at > DISCOVERY_CACHE_MS) {
      const metadata = fetchMetadata();
      cached = { at: Date.now(), metadata };
      metadata.catch(() => {
        if (cached?.metadata === metadata) cached = undefined;
      });
    }
    return cached.metadata;
  };
}

/** Headers of both answers: never cached, never in a referrer, script only by nonce. */
function securityHeaders(nonce: string | undefined, clearCookie: string | undefined): http.OutgoingHttpHeaders {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'content-security-policy': `default-src 'none'; ${nonce ? `script-src 'nonce-${nonce}'; ` : ''}base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    ...(clearCookie ? { 'set-cookie': clearCookie } : {}),
  };
}

/**
 * The page keeps its token in sessionStorage (this tab, this origin), as with local sign-in: this
 * answer stores it there and replaces itself with the page, so the callback URL with its code
 * leaves the tab's history.
 */
function handOver(res: http.ServerResponse, token: string, pageUrl: string, clearCookie: string): void {
  const nonce = base64url(randomBytes(16));
  // JSON with <, > and & escaped is inert inside a script element.
  const literal = (value: string): string => JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  res.writeHead(200, securityHeaders(nonce, clearCookie)).end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signing in…</title></head><body><p>Signing in…</p>` +
      `<script nonce="${nonce}">sessionStorage.setItem('token', ${literal(token)}); location.replace(${literal(pageUrl)});</script></body></html>`,
  );
}

function refusalPage(res: http.ServerResponse, refusal: SignInRefused, pageUrl: string, clearCookie?: string): void {
  res.writeHead(refusal.status, securityHeaders(undefined, clearCookie)).end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in refused</title></head><body>` +
      `<h1>Sign-in refused</h1><p id="reason" data-code="${escapeHtml(refusal.code)}">${escapeHtml(refusal.message)}</p>` +
      `<p><a href="${escapeHtml(pageUrl)}">Back to the approvals page</a></p></body></html>`,
  );
}

/** GET /auth/login and /auth/callback, on `app`: pages of their own, written by the sign-in (the reply is handed to it). */
export function registerOidcSignIn(app: FastifyInstance, signIn: () => OidcSignIn | undefined): void {
  const page = { description: 'an HTML page (the callback stores the token and opens the approvers\' page; a refusal says why)', content: { 'text/html': { schema: z.string() } } };
  for (const [url, summary] of [
    ['/auth/login', 'Starts sign-in through the identity provider: a redirect to it, with PKCE'],
    ['/auth/callback', "The identity provider's answer: the code is redeemed and the token handed to the page"],
  ] as const) {
    app.withTypeProvider<ZodTypeProvider>().route({
      method: 'GET',
      url,
      schema: { operationId: url === '/auth/login' ? 'signInStart' : 'signInCallback', tags: ['Session'], security: [], summary, querystring: z.looseObject({}), response: { 200: page, 302: { description: 'to the identity provider', content: { 'text/html': { schema: z.string() } } }, 400: page, 403: page, 502: page, ...errorsOf(404, 503) } },
      handler: async (request, reply) => {
        const oidc = signIn();
        if (!oidc) throw new HttpError(404, 'NOT_FOUND', 'sign-in through an identity provider is not configured (AUTH_OIDC_ISSUER)');
        reply.hijack();
        await oidc.handle(request.raw, reply.raw, new URL(request.raw.url ?? '/', 'http://localhost'), (id) => actedAs(request, id, []));
      },
    });
  }
}
