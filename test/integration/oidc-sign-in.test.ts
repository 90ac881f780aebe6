// Sign-in on the approvers' page through a real OpenID Connect provider (oidc-provider, in a process
// of its own), in a real (headless) Chromium: the authorization code flow with PKCE, the worker as
// the client. The page is served from localhost and the provider from 127.0.0.1, two different
// sites as in production, so the sign-in cookie must come back on a cross-site redirect.
// Screenshots are kept under test-artifacts/.
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { decodeJwt } from 'jose';
import { aPerson, aRequest } from '../support/builders';
import { freePort } from '../support/ports';
import { startOidcProvider, type OidcAccount, type TestOidcProvider } from '../support/oidc-provider-process';
import { startHarness, type Harness } from '../support/test-worker';
import { pollUntil } from '../../src/libraries/retry';
import { accessLines } from '../support/access-log';

const SHOTS = path.join(__dirname, '..', '..', 'test-artifacts', 'screenshots');
const RESOURCE = 'https://card-approvals.example.com/api';
let harness: Harness;
let provider: TestOidcProvider;
let browser: Browser;
let base: string;
let approver: OidcAccount;
let operator: OidcAccount;

beforeAll(async () => {
  const [workerPort, providerPort] = await Promise.all([freePort(), freePort()]);
  base = `http://localhost:${workerPort}`;
  approver = { ...aPerson('approver'), password: randomUUID(), roles: ['approver'] };
  operator = { ...aPerson('operator'), password: randomUUID(), roles: ['operator'] };
  const client = { id: `card-approvals-${randomUUID().slice(0, 8)}`, secret: randomBytes(32).toString('base64url'), redirectUri: `${base}/auth/callback` };
  provider = await startOidcProvider({ port: providerPort, client, resource: RESOURCE, audience: 'card-approvals', scope: 'approvals', accounts: [approver, operator] });
  harness = await startHarness({
    HTTP_PORT: String(workerPort),
    OPERATOR_URL: `${base}/approvals`,
    AUTH_OIDC_ISSUER: provider.issuer,
    AUTH_OIDC_CLIENT_ID: client.id,
    AUTH_OIDC_CLIENT_SECRET: client.secret,
    AUTH_OIDC_SCOPES: 'openid profile email approvals',
    AUTH_OIDC_RESOURCE: RESOURCE,
    AUTH_JWKS_URL: provider.jwksUrl,
    AUTH_AUDIENCE: 'card-approvals',
  });
  [browser] = await Promise.all([
    chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    }),
    harness.startWorker(),
  ]);
  fs.mkdirSync(SHOTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await harness?.stop();
  await provider?.stop();
});

// An expression, not a function: the tests are compiled without the DOM's types.
const tokenIn = (page: Page): Promise<string | null> => page.evaluate<string | null>("sessionStorage.getItem('token')");

/**
 * Runs `action` and returns the URL (code and state) of the provider's redirect to the worker's
 * callback, which is held back: never sent. Through the DevTools protocol, because the callback is
 * the last hop of a redirect chain and Playwright's routes see only the first URL of a chain.
 */
async function callbackHeldBack(page: Page, action: () => Promise<void>): Promise<string> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const held = new Promise<string>((resolve, reject) => {
      setTimeout(() => reject(new Error('the provider did not redirect to the callback within 20s')), 20_000).unref();
      cdp.on('Fetch.requestPaused', (event: { requestId: string; request: { url: string } }) => {
        resolve(event.request.url);
        void cdp.send('Fetch.failRequest', { requestId: event.requestId, errorReason: 'Aborted' });
      });
    });
    await cdp.send('Fetch.enable', { patterns: [{ urlPattern: `${base}/auth/callback?*`, requestStage: 'Request' }] });
    await action();
    return await held;
  } finally {
    await cdp.send('Fetch.disable');
    await cdp.detach();
  }
}

async function expectRefused(page: Page, url: string, code: string): Promise<void> {
  const response = await page.goto(url);
  expect(response!.status()).toBe(400);
  await expect(page.locator('#reason').getAttribute('data-code')).resolves.toBe(code);
  expect(await tokenIn(page)).toBeNull();
}

async function expectSignedOut(page: Page): Promise<void> {
  await page.goto(`${base}/approvals`);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  expect(await page.locator('#who').textContent()).toBe('');
  expect(await tokenIn(page)).toBeNull();
}

test('when an approver signs in through the identity provider, then the page shows them, lists their task, and their approval carries their identity', async () => {
  const request = aRequest('LOCK_CARD', { approvers: [approver, aPerson('approver')].map(({ id, name, email }) => ({ id, name, email, locale: null })) });
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);

  const context = await browser.newContext();
  const page = await context.newPage();
  const callback = page.waitForRequest((r) => new URL(r.url()).pathname === '/auth/callback');
  await page.goto(`${base}/approvals`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Username').fill(approver.id);
  await page.getByLabel('Password').fill(approver.password);
  await page.screenshot({ path: path.join(SHOTS, 'oidc-provider-login.png'), fullPage: true });
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.getByText(`${approver.name} (approver)`).waitFor();
  await page.getByRole('heading', { name: 'Requests' }).waitFor(); // its first list has loaded
  // The code went through the callback, which replaced itself: it is not left in the address bar.
  expect(page.url()).toBe(`${base}/approvals`);
  const code = new URL((await callback).url()).searchParams.get('code');
  expect(code).toBeTruthy();
  // The page holds the provider's access token for this API, not an ID token.
  const token = (await tokenIn(page))!;
  expect(decodeJwt(token)).toMatchObject({ iss: provider.issuer, aud: 'card-approvals', sub: approver.id, email: approver.email, roles: ['approver'] });

  await page.getByRole('link', { name: 'My approvals' }).click();
  // In the task list, not the search list it also appears in (shown until the tasks have loaded).
  await page.locator('#task-list').getByRole('link', { name: request.requestId, exact: true }).click();
  await page.getByRole('button', { name: 'Approve', exact: true }).click();
  await page.getByText('Decision recorded. The request is now: Approved.').waitFor({ timeout: 20_000 });
  await page.screenshot({ path: path.join(SHOTS, 'oidc-approved.png'), fullPage: true });

  expect((await harness.record(request.requestId))?.status).toBe('APPROVED');
  const events = await harness.waitForEvents(request.requestId, 2);
  expect(events[1]).toMatchObject({ type: 'APPROVED', decision: { approver: { id: approver.id, name: approver.name, email: approver.email } } });

  // Neither the code nor the token is in the worker's log.
  const log = await pollUntil(async () => fs.readFileSync(harness.logFile, 'utf8'), (text) => text.includes('signed in through the identity provider'), { what: 'the sign-in in the log' });
  expect(log).not.toContain(code);
  expect(log).not.toContain(token);
  // The access log names who signed in, by id only.
  await pollUntil(async () => accessLines(harness.accessLogFile), (lines) => lines.some((l) => l.operation === 'signInCallback' && l.callerId === approver.id && l.status === 200), { what: 'the sign-in in the access log' });
  const accessLog = fs.readFileSync(harness.accessLogFile, 'utf8');
  for (const hidden of [code!, token, approver.name, approver.email]) expect(accessLog).not.toContain(hidden);
  await context.close();
}, 60_000);

test("when a callback's state is wrong, missing, or from another browser, then it is refused and signs nobody in", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const signIn = async (): Promise<void> => {
    await page.goto(`${base}/approvals`);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  // The first sign-in logs in at the provider; its real answer, code and state, is held back.
  await signIn();
  await page.getByLabel('Username').fill(operator.id);
  await page.getByLabel('Password').fill(operator.password);
  await page.getByRole('button', { name: 'Continue' }).click();
  const first = new URL(await callbackHeldBack(page, () => page.getByRole('button', { name: 'Allow' }).click()));

  // Another browser (someone who was sent this link) started no sign-in: refused.
  const elsewhere = await browser.newPage();
  await expectRefused(elsewhere, first.toString(), 'NO_SIGN_IN_PENDING');
  await expectSignedOut(elsewhere);
  await elsewhere.close();

  // The right code with another state: refused, before the code is redeemed.
  const wrongState = new URL(first);
  wrongState.searchParams.set('state', randomBytes(32).toString('base64url'));
  await expectRefused(page, wrongState.toString(), 'STATE_MISMATCH');
  await page.screenshot({ path: path.join(SHOTS, 'oidc-state-refused.png'), fullPage: true });
  await expectSignedOut(page);

  // A new sign-in (the provider remembers the login and the consent): without its state, refused.
  const noState = new URL(await callbackHeldBack(page, signIn));
  noState.searchParams.delete('state');
  await expectRefused(page, noState.toString(), 'STATE_MISMATCH');
  await expectSignedOut(page);

  // The same flow, delivered as the provider sent it, signs the operator in.
  await page.goto(await callbackHeldBack(page, signIn));
  await page.getByText(`${operator.name} (operator)`).waitFor();
  await page.getByRole('heading', { name: 'Requests' }).waitFor();
  await context.close();
}, 60_000);
