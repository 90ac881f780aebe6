// OIDC sign-in settings are validated at start-up, with the settings they must agree with.
import { loadConfig } from '../../src/libraries/config';
import { problemsOf } from '../support/config-problems';


const oidc = {
  AUTH_OIDC_ISSUER: 'https://idp.example.com',
  AUTH_OIDC_CLIENT_ID: 'card-approvals',
  AUTH_JWKS_URL: 'https://idp.example.com/jwks',
  OPERATOR_URL: 'https://approvals.example.com/approvals',
  HTTP_HOST: '0.0.0.0',
};

test('when OIDC sign-in is configured, then the issuer of API tokens, the callback and the scopes follow from it', () => {
  const { auth } = loadConfig(oidc);
  expect(auth.issuer).toBe('https://idp.example.com');
  expect(auth.oidc).toEqual({
    issuer: 'https://idp.example.com',
    clientId: 'card-approvals',
    clientSecret: undefined,
    scopes: 'openid profile email',
    resource: undefined,
    redirectUrl: 'https://approvals.example.com/auth/callback',
    pageUrl: 'https://approvals.example.com/approvals',
  });
  expect(loadConfig({ ...oidc, AUTH_OIDC_SCOPES: ' openid  approvals ', AUTH_OIDC_RESOURCE: 'https://approvals.example.com/api' }).auth.oidc).toMatchObject({
    scopes: 'openid approvals',
    resource: 'https://approvals.example.com/api',
  });
  expect(loadConfig({}).auth.oidc).toBeUndefined();
});

test('when http is used for the provider or the callback, then only a loopback host is accepted', () => {
  expect(problemsOf({ ...oidc, AUTH_OIDC_ISSUER: 'http://127.0.0.1:9000', AUTH_OIDC_REDIRECT_URL: 'http://localhost:8080/auth/callback', OPERATOR_URL: 'http://localhost:8080/approvals' })).toEqual([]);
  expect(problemsOf({ ...oidc, AUTH_OIDC_ISSUER: 'http://idp.example.com' })).toEqual([expect.stringContaining('AUTH_OIDC_ISSUER="http://idp.example.com" must use https')]);
  expect(problemsOf({ ...oidc, OPERATOR_URL: 'http://approvals.example.com/approvals' })).toEqual([expect.stringContaining('must use https (http only on a loopback host)')]);
});

test.each<[string, Record<string, string>, string]>([
  ['local sign-in beside it', { AUTH_LOCAL_SIGNIN: 'true', AUTH_SECRET: 'a-secret-that-is-long-enough-0123456789', HTTP_HOST: '127.0.0.1' }, 'AUTH_LOCAL_SIGNIN=true cannot be used with AUTH_OIDC_ISSUER'],
  ['no JWKS URL', { AUTH_JWKS_URL: '' }, 'AUTH_OIDC_ISSUER needs AUTH_JWKS_URL'],
  ['another AUTH_ISSUER', { AUTH_ISSUER: 'card-approval-worker' }, 'AUTH_ISSUER="card-approval-worker" must equal AUTH_OIDC_ISSUER'],
  ['a client id without an issuer', { AUTH_OIDC_ISSUER: '' }, 'AUTH_OIDC_ISSUER and AUTH_OIDC_CLIENT_ID go together'],
  ['scopes without openid', { AUTH_OIDC_SCOPES: 'profile email' }, 'AUTH_OIDC_SCOPES must include openid'],
  ['a callback on another origin than the page', { AUTH_OIDC_REDIRECT_URL: 'https://elsewhere.example.com/auth/callback' }, 'must have the same origin as OPERATOR_URL'],
  ['a callback on another path', { AUTH_OIDC_REDIRECT_URL: 'https://approvals.example.com/callback' }, 'must end with /auth/callback'],
  ['a page URL the callback cannot be derived from', { OPERATOR_URL: 'https://approvals.example.com/' }, 'AUTH_OIDC_REDIRECT_URL is needed'],
  ['a resource indicator that is not a URI', { AUTH_OIDC_RESOURCE: 'card-approvals' }, 'AUTH_OIDC_RESOURCE="card-approvals" must be an absolute URI'],
])('when OIDC sign-in has %s, then the worker refuses to start and says why', (_, change, problem) => {
  const problems = problemsOf({ ...oidc, ...change });
  expect(problems).toContainEqual(expect.stringContaining(problem));
});

test('when OIDC settings are given without an issuer and a client, then they are named rather than ignored', () => {
  expect(problemsOf({ AUTH_OIDC_SCOPES: 'openid', AUTH_OIDC_CLIENT_SECRET: 'x' })).toEqual([
    'AUTH_OIDC_CLIENT_SECRET needs AUTH_OIDC_ISSUER and AUTH_OIDC_CLIENT_ID',
    'AUTH_OIDC_SCOPES needs AUTH_OIDC_ISSUER and AUTH_OIDC_CLIENT_ID',
  ]);
});
