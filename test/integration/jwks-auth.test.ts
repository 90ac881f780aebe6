// Production authentication: tokens signed by an identity provider, verified against its JWKS URL.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startHarness, type Harness } from '../support/test-worker';

let harness: Harness;
let jwks: http.Server;
let base: string;
let sign: (claims: Record<string, unknown>, subject: string) => Promise<string>;
let signExpiring: (expiry: string | undefined) => Promise<string>;

beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  jwks = http.createServer((_, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
  harness = await startHarness({ AUTH_JWKS_URL: jwksUrl, AUTH_ISSUER: 'https://idp.example.com', AUTH_AUDIENCE: 'card-approvals' });
  base = `http://127.0.0.1:${(await harness.startWorker()).httpPort}`;
  sign = (claims, subject) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .setSubject(subject)
      .setIssuer('https://idp.example.com')
      .setAudience('card-approvals')
      .setExpirationTime('5m')
      .sign(privateKey);
  signExpiring = (expiry) => {
    const token = new SignJWT({ email: 'ida@example.com', roles: ['approver'] })
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .setSubject('ida')
      .setIssuer('https://idp.example.com')
      .setAudience('card-approvals')
      .setIssuedAt();
    return (expiry ? token.setExpirationTime(expiry) : token).sign(privateKey);
  };
});

afterAll(async () => {
  await harness?.stop();
  await new Promise((resolve) => jwks?.close(resolve));
});

const me = async (token: string): Promise<{ status: number; body: any }> => {
  const res = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() };
};

test("when a token is signed by the identity provider's key, then the API takes the identity from it", async () => {
  const token = await sign({ name: 'Ida Approver', email: 'ida@example.com', roles: ['approver'] }, 'ida');
  expect(await me(token)).toEqual({ status: 200, body: { id: 'ida', name: 'Ida Approver', email: 'ida@example.com', roles: ['approver'] } });
});

test('when a token has the wrong audience or no roles, then it is refused with 401', async () => {
  const wrongAudience = await new SignJWT({ email: 'x@example.com', roles: ['operator'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('x')
    .sign(new TextEncoder().encode('a-secret-the-worker-does-not-know-at-all'));
  expect((await me(wrongAudience)).status).toBe(401);
  expect(await me(await sign({ email: 'y@example.com' }, 'y'))).toMatchObject({ status: 401, body: { error: 'TOKEN_INVALID' } });
});

test('when a token has no expiry, or lives longer than 12 hours, then it is refused with 401', async () => {
  expect(await me(await signExpiring(undefined))).toMatchObject({ status: 401, body: { error: 'TOKEN_INVALID', message: expect.stringContaining('"exp" claim') } });
  expect(await me(await signExpiring('30d'))).toMatchObject({ status: 401, body: { error: 'TOKEN_INVALID', message: expect.stringContaining('longer than 12 h') } });
  expect((await me(await signExpiring('12h'))).status).toBe(200);
});
