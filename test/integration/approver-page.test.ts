// The approver's web page in a real (headless) Chromium: sign in, find the request, and approve,
// reject with a reason, or postpone it; then check the end state, the events and the emails.
// Screenshots are kept under test-artifacts/.
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { aPerson, aRequest } from '../support/builders';
import { PAGE_LIMIT } from '../../src/entry-points/http/approvals-api';
import { pollUntil } from '../../src/libraries/retry';
import { waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';

const SHOTS = path.join(__dirname, '..', '..', 'test-artifacts', 'screenshots');
let harness: Harness;
let browser: Browser;
let base: string;

beforeAll(async () => {
  harness = await startHarness({ AUTH_SECRET: 'browser-test-secret-long-enough-0123456789', AUTH_LOCAL_SIGNIN: 'true' });
  base = `http://127.0.0.1:${(await harness.startWorker()).httpPort}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  fs.mkdirSync(SHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await harness?.stop();
});

async function signInAs(person: { id: string; name: string; email: string }): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${base}/approvals`);
  await page.getByLabel('Id').fill(person.id);
  await page.getByLabel('Name').fill(person.name);
  await page.getByLabel('Email').fill(person.email);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Requests' }).waitFor();
  return page;
}

async function openFromSearch(page: Page, requestId: string): Promise<void> {
  await page.getByPlaceholder('Request, requester, card…').fill(requestId);
  await page.locator('#search-form').getByRole('button', { name: 'Search' }).click();
  await page.getByRole('cell', { name: requestId, exact: true }).click();
  await page.getByRole('heading', { name: /^Card approval:/ }).waitFor();
}

const statusOf = async (requestId: string): Promise<unknown> => (await harness.record(requestId))?.status;

test('when an approver rejects in the page, then a reason is required, the request is rejected and the requester is told why', async () => {
  const request = aRequest('DEACTIVATE_CARD', { description: '<b>not bold</b> please deactivate' });
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);

  const page = await signInAs(request.approvers[0]!);
  await openFromSearch(page, request.requestId);
  for (const block of ['Request information', 'Card information', 'Requester information']) await page.getByText(block).waitFor();
  await page.getByText('<b>not bold</b> please deactivate').waitFor(); // shown as text, not markup
  await page.screenshot({ path: path.join(SHOTS, 'card-approval-form.png'), fullPage: true });

  await page.getByRole('button', { name: 'Reject' }).click();
  await page.getByText('A rejection needs a reason.').waitFor();
  await page.getByLabel(/Reason/).fill('The badge is still needed');
  await page.getByRole('button', { name: 'Reject' }).click();
  await page.getByText('Decision recorded: REJECTED.').waitFor({ timeout: 20_000 });
  await page.screenshot({ path: path.join(SHOTS, 'rejected.png'), fullPage: true });

  expect(await statusOf(request.requestId)).toBe('REJECTED');
  const events = await harness.waitForEvents(request.requestId, 2);
  expect(events[1]).toMatchObject({ type: 'REJECTED', decision: { reason: 'The badge is still needed', approver: { id: request.approvers[0]!.id } } });
  const [email] = await waitForEmails(request.requester.email, 1);
  expect(email!.text).toContain('Reason: The badge is still needed');
}, 60_000);

test('when an approver postpones in the page, then the request stays in their list, and approving it later closes it', async () => {
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);

  const page = await signInAs(request.approvers[1]!);
  await openFromSearch(page, request.requestId);
  await page.getByRole('button', { name: 'Postpone' }).click();
  await page.getByText('Decision recorded: PENDING.').waitFor({ timeout: 20_000 });
  expect(await statusOf(request.requestId)).toBe('PENDING');

  await page.getByRole('button', { name: 'What do you want to do' }).click();
  await page.getByRole('cell', { name: request.requestId, exact: true }).click();
  await page.getByRole('button', { name: 'Approved' }).click();
  await page.getByText('Decision recorded: APPROVED.').waitFor({ timeout: 20_000 });
  await page.screenshot({ path: path.join(SHOTS, 'approved-after-postpone.png'), fullPage: true });

  const events = await harness.waitForEvents(request.requestId, 3);
  expect(events.map((e) => e.type)).toEqual(['OPENED', 'POSTPONED', 'APPROVED']);
  await waitForEmails(request.requester.email, 1);
  await page.getByRole('button', { name: 'What do you want to do' }).click();
  await pollUntil(async () => page.getByRole('cell', { name: request.requestId, exact: true }).count(), (n) => n === 0, { what: 'the task to leave the list' });
}, 60_000);

test('when an approver has more tasks than one page holds, then More tasks adds the next page until every task is listed, and selecting them approves them in one go', async () => {
  const approver = aPerson('approver');
  const requests = Array.from({ length: PAGE_LIMIT.default + 1 }, () => aRequest('LOCK_CARD', { approvers: [approver, aPerson('approver')] }));
  for (const request of requests) await harness.publishRequest(request);
  for (const request of requests) await harness.waitForEvents(request.requestId, 1);

  const page = await signInAs(approver);
  await page.getByRole('button', { name: 'What do you want to do' }).click();
  const rows = page.locator('#task-list tbody tr');
  await pollUntil(() => rows.count(), (n) => n === PAGE_LIMIT.default, { what: 'the first page of tasks' });
  await page.getByRole('button', { name: 'More tasks' }).click();
  await pollUntil(() => rows.count(), (n) => n === requests.length, { what: 'every task' });
  await page.getByRole('button', { name: 'More tasks' }).waitFor({ state: 'hidden' });
  const listed = await page.locator('#task-list tbody tr td:nth-child(2)').allTextContents();
  expect(new Set(listed)).toEqual(new Set(requests.map((r) => r.requestId)));

  // Then they approve them all at once: select all but one, Approve selected.
  const remaining = () => page.locator('#task-list tbody tr td:nth-child(2)').allTextContents();
  await page.getByLabel('Select all').check();
  await page.getByLabel(`Select ${requests[0]!.requestId}`).uncheck(); // this one is postponed instead
  await page.getByRole('button', { name: 'Approve selected' }).click();
  await page.getByText(`${requests.length - 1} decision(s) sent.`).waitFor({ timeout: 20_000 });
  // The list refreshes by itself once the worker has applied them.
  await pollUntil(remaining, (ids) => ids.length === 1 && ids[0] === requests[0]!.requestId, { what: 'only the unselected task left' });
  await page.screenshot({ path: path.join(SHOTS, 'bulk-approved.png'), fullPage: true });
  for (const request of requests.slice(1)) expect((await harness.waitForEvents(request.requestId, 2))[1]).toMatchObject({ type: 'APPROVED', decision: { approver: { id: approver.id } } });

  await page.getByLabel(`Select ${requests[0]!.requestId}`).check();
  await page.getByRole('button', { name: 'Postpone selected' }).click();
  await page.getByText('1 decision(s) sent.').waitFor({ timeout: 20_000 });
  expect((await harness.waitForEvents(requests[0]!.requestId, 2))[1]).toMatchObject({ type: 'POSTPONED' });
  expect(await remaining()).toEqual([requests[0]!.requestId]); // a postponed task stays listed
}, 90_000);

test('when the page is served, then its content security policy lets it load and call only its own origin', async () => {
  const res = await fetch(`${base}/approvals`);
  expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'self';/);
});

test('when a requester signs in, then they find their own request and withdraw it: it ends CANCELLED and the approvers are told it is no longer needed', async () => {
  const request = aRequest('REQUEST_CARD');
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);

  const page = await browser.newPage();
  await page.goto(`${base}/approvals`);
  await page.getByLabel('Id').fill(request.requester.id);
  await page.getByLabel('Name').fill(request.requester.name);
  await page.getByLabel('Email').fill(request.requester.email);
  await page.getByLabel('Role').selectOption('requester');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Requests' }).waitFor();
  await openFromSearch(page, request.requestId);
  expect(await page.getByRole('button', { name: 'Approved' }).isVisible()).toBe(false); // a requester does not decide
  await page.getByRole('cell', { name: request.approvers.map((a) => a.name).join(', ') }).waitFor();
  await page.getByLabel(/no longer needed/).fill('Found my old badge');
  await page.getByRole('button', { name: 'Withdraw request' }).click();
  await page.getByText('Decision recorded: CANCELLED.').waitFor({ timeout: 20_000 });
  await page.screenshot({ path: path.join(SHOTS, 'withdrawn-by-requester.png'), fullPage: true });

  const events = await harness.waitForEvents(request.requestId, 2);
  expect(events[1]).toMatchObject({ type: 'CANCELLED', status: 'CANCELLED', decision: { decision: 'WITHDRAWN', actingAs: 'REQUESTER', reason: 'Found my old badge' } });
  for (const approver of request.approvers) {
    const emails = await waitForEmails(approver.email, 2);
    expect(emails[1]!.subject).toBe(`No longer needed: Request card (${request.requestId}) was withdrawn`);
  }
}, 60_000);
