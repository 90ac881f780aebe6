// Who may call the API and how the page signs in: bearer tokens verified against a JWKS URL (an
// identity provider's keys) or a shared secret (local tokens), and sign-in through an OpenID
// Connect provider or, on a developer's machine, locally.
import { flag, optional, readSettings, setting, shownValue, text, url } from './settings';

/** The approvers' page's sign-in through an OpenID Connect provider (authorization code flow with PKCE). */
export interface OidcSignInSettings {
  /** The provider's issuer; its discovery document is at <issuer>/.well-known/openid-configuration. */
  issuer: string;
  clientId: string;
  /** A confidential client's secret, sent with HTTP Basic to the token endpoint; a public client has none. */
  clientSecret: string | undefined;
  /** Space-separated; always includes openid. */
  scopes: string;
  /** The RFC 8707 resource indicator asked for, so that the access token is issued for this API. */
  resource: string | undefined;
  /** This worker's /auth/callback as browsers reach it: the redirect URI registered at the provider. */
  redirectUrl: string;
  /** Where the browser lands once signed in: the approvers' page (OPERATOR_URL). */
  pageUrl: string;
}

export interface AuthSettings {
  /** Whether the API and the approvers' page are served at all (health and metrics always are). */
  apiEnabled: boolean;
  secret: string | undefined;
  jwksUrl: string | undefined;
  issuer: string;
  audience: string;
  localSignIn: boolean;
  oidc: OidcSignInSettings | undefined;
}

export const SIGN_IN_SETTINGS = {
  API_ENABLED: setting({ kind: 'true or false', doc: 'Serve the API and the approvers\' page. With false, only health, metrics and one-click email links are served, and no way to authenticate callers is needed.', schema: flag(), default: 'true' }),
  AUTH_JWKS_URL: optional({ kind: 'URL (https:, or http: on a loopback host)', doc: 'The identity provider\'s keys: bearer tokens signed by it are accepted (keys are fetched again after a 30 s cooldown when a token names a new one).', schema: url(['https:', 'http:']) }),
  AUTH_SECRET: optional({ kind: 'text, at least 32 characters', doc: 'HS256 secret for local tokens (the CLI\'s `token` command, local sign-in). Not beside AUTH_JWKS_URL.', schema: text(), secret: true }),
  AUTH_ISSUER: optional({ kind: 'text', doc: 'The `iss` tokens must carry. Default: AUTH_OIDC_ISSUER if set, else card-approval-worker.', schema: text() }),
  AUTH_AUDIENCE: setting({ kind: 'text', doc: 'The `aud` tokens must carry.', schema: text(), default: 'card-approvals' }),
  AUTH_LOCAL_SIGNIN: setting({ kind: 'true or false', doc: 'Local development only: the page\'s sign-in mints a token for any identity. Needs AUTH_SECRET and HTTP_HOST on loopback; refused in production.', schema: flag(), default: 'false' }),
  AUTH_OIDC_ISSUER: optional({ kind: 'URL (https:, or http: on a loopback host)', doc: 'The page signs in through this OpenID Connect provider; needs AUTH_OIDC_CLIENT_ID and AUTH_JWKS_URL.', schema: text() }),
  AUTH_OIDC_CLIENT_ID: optional({ kind: 'text', doc: 'This worker\'s client id at the provider.', schema: text() }),
  AUTH_OIDC_CLIENT_SECRET: optional({ kind: 'text', doc: 'A confidential client\'s secret (sent with HTTP Basic).', schema: text(), secret: true }),
  AUTH_OIDC_SCOPES: optional({ kind: 'space-separated scopes', doc: 'The scopes asked for; must include openid. Default: openid profile email.', schema: text() }),
  AUTH_OIDC_RESOURCE: optional({ kind: 'absolute URI', doc: 'An RFC 8707 resource indicator, so the access token is issued for this API.', schema: text() }),
  AUTH_OIDC_REDIRECT_URL: optional({ kind: 'URL ending in /auth/callback', doc: 'The callback registered at the provider. Default: OPERATOR_URL with /approvals replaced by /auth/callback.', schema: text() }),
};

const LOOPBACK_HOSTS = ['127.0.0.1', '::1', 'localhost'];
const LOOPBACK_URL_HOSTS = ['127.0.0.1', '[::1]', 'localhost'];

/**
 * The API's authentication and the page's sign-in, against the settings they must agree with.
 * OIDC sign-in needs AUTH_JWKS_URL: the provider's access tokens are verified like any other
 * bearer token, with keys pinned in configuration rather than taken from the discovery document.
 * Codes and tokens travel in URLs and cookies only over https, except on a loopback host.
 */
export function readSignIn(env: NodeJS.ProcessEnv, problems: string[], { production, serving }: { production: boolean; serving: boolean }, page: { operatorUrl: string; httpHost: string }): AuthSettings {
  const v = readSettings(SIGN_IN_SETTINGS, env, false, problems);
  /** An absolute URL without a fragment, on https unless its host is loopback. */
  const secureUrl = (name: string, raw: string): URL | undefined => {
    const shown = shownValue(raw);
    if (!URL.canParse(raw)) return void problems.push(`${name}="${shown}" is not a URL`);
    const parsed = new URL(raw);
    if (parsed.username || parsed.password) problems.push(`${name}="${shown}" must not hold a user or password (only secret settings may)`);
    if (parsed.hash) problems.push(`${name}="${shown}" must not have a fragment`);
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && LOOPBACK_URL_HOSTS.includes(parsed.hostname))) {
      problems.push(`${name}="${shown}" must use https (http only on a loopback host)`);
    }
    return parsed;
  };
  const auth: AuthSettings = {
    apiEnabled: v.API_ENABLED,
    secret: v.AUTH_SECRET,
    jwksUrl: v.AUTH_JWKS_URL,
    // With OIDC sign-in, the tokens the API sees are the provider's: their iss is its issuer.
    issuer: v.AUTH_ISSUER ?? v.AUTH_OIDC_ISSUER ?? 'card-approval-worker',
    audience: v.AUTH_AUDIENCE,
    localSignIn: v.AUTH_LOCAL_SIGNIN,
    oidc: undefined,
  };
  if (auth.jwksUrl) secureUrl('AUTH_JWKS_URL', auth.jwksUrl); // keys fetched over plain http off loopback could be anyone's
  if (auth.jwksUrl && auth.secret) problems.push('AUTH_SECRET cannot be used with AUTH_JWKS_URL: tokens are verified against the JWKS only, and the secret would be ignored');
  if (auth.secret !== undefined && auth.secret.length < 32) problems.push('AUTH_SECRET must be at least 32 characters');
  if (auth.localSignIn) {
    if (production) problems.push('AUTH_LOCAL_SIGNIN=true is refused in production (NODE_ENV=production): it mints a token for any identity');
    if (!auth.secret) problems.push('AUTH_LOCAL_SIGNIN=true needs AUTH_SECRET');
    // Local sign-in mints a token for any identity it is given: only for a developer's own machine.
    if (!LOOPBACK_HOSTS.includes(page.httpHost)) problems.push(`AUTH_LOCAL_SIGNIN=true needs HTTP_HOST on loopback (127.0.0.1, ::1 or localhost), not "${page.httpHost}"`);
    if (auth.jwksUrl) problems.push('AUTH_LOCAL_SIGNIN=true cannot be used with AUTH_JWKS_URL (its tokens would be refused)');
  }
  if (production && serving && auth.apiEnabled && !auth.jwksUrl && !auth.secret) {
    problems.push('AUTH_JWKS_URL must be set in production (NODE_ENV=production): the API has no other way to authenticate its callers (or set API_ENABLED=false)');
  }

  const issuer = v.AUTH_OIDC_ISSUER;
  const clientId = v.AUTH_OIDC_CLIENT_ID;
  if (!issuer || !clientId) {
    if (issuer || clientId) problems.push('AUTH_OIDC_ISSUER and AUTH_OIDC_CLIENT_ID go together: set both for OIDC sign-in, or neither');
    for (const name of ['AUTH_OIDC_CLIENT_SECRET', 'AUTH_OIDC_SCOPES', 'AUTH_OIDC_RESOURCE', 'AUTH_OIDC_REDIRECT_URL'] as const) {
      if (v[name] !== undefined) problems.push(`${name} needs AUTH_OIDC_ISSUER and AUTH_OIDC_CLIENT_ID`);
    }
    return auth;
  }
  const issuerUrl = secureUrl('AUTH_OIDC_ISSUER', issuer);
  if (issuerUrl?.search) problems.push(`AUTH_OIDC_ISSUER="${shownValue(issuer)}" must not have a query`);

  const scopeList = (v.AUTH_OIDC_SCOPES ?? 'openid profile email').split(/\s+/);
  if (!scopeList.includes('openid')) problems.push('AUTH_OIDC_SCOPES must include openid');
  for (const scope of scopeList) {
    // RFC 6749 section 3.3: printable ASCII but space, " and \
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)) problems.push(`AUTH_OIDC_SCOPES has an invalid scope "${scope}"`);
  }

  const resource = v.AUTH_OIDC_RESOURCE;
  if (resource !== undefined) {
    if (!URL.canParse(resource)) problems.push(`AUTH_OIDC_RESOURCE="${shownValue(resource)}" must be an absolute URI (RFC 8707)`);
    else if (new URL(resource).hash) problems.push(`AUTH_OIDC_RESOURCE="${shownValue(resource)}" must not have a fragment`);
  }

  // The callback hands the token to the page through sessionStorage, which is per origin: the
  // callback and the page must share theirs. By default the callback sits beside the page.
  const pageUrl = page.operatorUrl;
  const defaultRedirect = /\/approvals\/?$/.test(new URL(pageUrl, 'http://invalid').pathname) ? pageUrl.replace(/\/approvals\/?$/, '/auth/callback') : undefined;
  const redirectRaw = v.AUTH_OIDC_REDIRECT_URL ?? defaultRedirect;
  if (redirectRaw === undefined) {
    problems.push(`AUTH_OIDC_REDIRECT_URL is needed: OPERATOR_URL="${shownValue(pageUrl)}" does not end with /approvals, so the callback URL cannot be derived from it`);
  } else {
    const redirect = secureUrl('AUTH_OIDC_REDIRECT_URL', redirectRaw);
    if (redirect && !redirect.pathname.endsWith('/auth/callback')) problems.push(`AUTH_OIDC_REDIRECT_URL="${shownValue(redirectRaw)}" must end with /auth/callback`);
    if (redirect && URL.canParse(pageUrl) && redirect.origin !== new URL(pageUrl).origin) {
      problems.push(`AUTH_OIDC_REDIRECT_URL="${shownValue(redirectRaw)}" must have the same origin as OPERATOR_URL="${shownValue(pageUrl)}" (the page reads the token the callback stores)`);
    }
  }

  if (auth.localSignIn) problems.push('AUTH_LOCAL_SIGNIN=true cannot be used with AUTH_OIDC_ISSUER (choose one sign-in)');
  if (!auth.jwksUrl) problems.push("AUTH_OIDC_ISSUER needs AUTH_JWKS_URL (the provider's keys, to verify its access tokens)");
  if (auth.issuer !== issuer) problems.push(`AUTH_ISSUER="${shownValue(auth.issuer)}" must equal AUTH_OIDC_ISSUER="${shownValue(issuer)}" (the iss of the provider's tokens), or be left unset`);
  auth.oidc = { issuer, clientId, clientSecret: v.AUTH_OIDC_CLIENT_SECRET, scopes: scopeList.join(' '), resource, redirectUrl: redirectRaw ?? '', pageUrl };
  return auth;
}
