// A real OpenID Connect provider for the sign-in tests: panva's oidc-provider (certified, and
// ESM-only, hence a process of its own that the test starts). It registers one client, the worker
// under test, with PKCE required, and issues access tokens in JWT format for one resource server
// (the approvals API) carrying the claims the API needs: sub, name, email and roles.
//
// Settings come as one JSON object in the OIDC_TEST_PROVIDER environment variable:
//   { port, client: { id, secret?, redirectUri }, resource, audience, scope,
//     accounts: [{ id, password, name, email, roles }] }
// It prints one JSON line {"listening": "<issuer>"} once it accepts connections. Logins are checked
// against the accounts' passwords; the consent page grants what the client asked for.
import crypto from 'node:crypto';
import http from 'node:http';
import { Provider, errors } from 'oidc-provider';

const settings = JSON.parse(process.env.OIDC_TEST_PROVIDER ?? '{}');
const issuer = `http://127.0.0.1:${settings.port}`;
const accounts = new Map(settings.accounts.map((a) => [a.id, a]));

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-signing-key', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: settings.client.id,
      ...(settings.client.secret ? { client_secret: settings.client.secret, token_endpoint_auth_method: 'client_secret_basic' } : { token_endpoint_auth_method: 'none' }),
      redirect_uris: [settings.client.redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  pkce: { required: () => true },
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  // The page never calls the provider from script: the worker redeems the code.
  clientBasedCORS: () => false,
  async findAccount(_ctx, id) {
    const account = accounts.get(id);
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, name: account.name, email: account.email, email_verified: true }) };
  },
  async extraTokenClaims(_ctx, token) {
    if (token.kind !== 'AccessToken' || !token.resourceServer) return undefined;
    const account = accounts.get(token.accountId);
    return account ? { name: account.name, email: account.email, roles: account.roles } : undefined;
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      async getResourceServerInfo(_ctx, indicator) {
        if (indicator !== settings.resource) throw new errors.InvalidTarget();
        return { scope: settings.scope, audience: settings.audience, accessTokenFormat: 'jwt', accessTokenTTL: 600, jwt: { sign: { alg: 'RS256' } } };
      },
    },
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Error', `<p id="error">${escape(out.error)}: ${escape(out.error_description ?? '')}</p>`);
  },
});

const escape = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1>${body}</body></html>`;

async function formBody(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 4096) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

function loginForm(uid, error = '') {
  return page(
    'Sign in to the test provider',
    `<form method="post" action="/interaction/${uid}/login">
      <p><label>Username <input name="username" autocomplete="off" required></label></p>
      <p><label>Password <input name="password" type="password" required></label></p>
      <p><button type="submit">Continue</button> <span id="login-error">${escape(error)}</span></p>
    </form>`,
  );
}

function consentForm(uid, clientId, details) {
  const scopes = [...(details.missingOIDCScope ?? []), ...Object.values(details.missingResourceScopes ?? {}).flat()];
  return page(
    'Allow access',
    `<p><span id="client">${escape(clientId)}</span> asks for: ${scopes.map(escape).join(', ') || 'what you granted before'}</p>
    <form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
    <p><a href="/interaction/${uid}/abort">Deny</a></p>`,
  );
}

async function interaction(req, res, uid, step) {
  const html = (status, body) => res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(body);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return html(400, page('Error', '<p>interaction mismatch</p>'));
  const { prompt, params, session, grantId } = details;
  if (req.method === 'GET' && step === undefined) {
    return html(200, prompt.name === 'login' ? loginForm(uid) : consentForm(uid, params.client_id, prompt.details));
  }
  if (req.method === 'GET' && step === 'abort') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user denied access' }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && step === 'login' && prompt.name === 'login') {
    const form = await formBody(req);
    const account = accounts.get(form.get('username') ?? '');
    if (!account || form.get('password') !== account.password) return html(401, loginForm(uid, 'Unknown user or wrong password.'));
    return provider.interactionFinished(req, res, { login: { accountId: account.id } }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && step === 'confirm' && prompt.name === 'consent') {
    const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }
  return html(400, page('Error', '<p>unexpected step</p>'));
}

const handleProvider = provider.callback();
const server = http.createServer((req, res) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/.exec(new URL(req.url ?? '/', issuer).pathname);
  if (!match) return handleProvider(req, res);
  interaction(req, res, match[1], match[2]).catch((error) => {
    process.stderr.write(`interaction failed: ${error?.message ?? error}\n`);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('interaction failed');
  });
});
server.listen(settings.port, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ listening: issuer })}\n`));
// Nothing to flush: every grant and session lives in memory and dies with the process.
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
