// The approver's web page in a real (headless) Chromium: sign in, find the request, and approve,
// reject with a reason, or postpone it, decide a multi-card request per card, or delegate; then
// check the end state, the events and the emails. Screenshots are kept under test-artifacts/.
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

// Exact labels: the delegation form's "Delegate's id", "Delegate's name" and "Delegate's email" contain these.
async function signInAs(person: { id: string; name: string; email: string }): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${base}/approvals`);
  await page.getByLabel('Id', { exact: true }).fill(person.id);
  await page.getByLabel('Name', { exact: true }).fill(person.name);
  await page.getByLabel('Email', { exact: true }).fill(person.email);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Requests' }).waitFor();
  return page;
}

async function openFromSearch(page: Page, requestId: string): Promise<void> {
  await page.getByLabel('Request, requester or card').fill(requestId);
  await page.locator('#search-form').getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: requestId, exact: true }).click();
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
  await page.getByText('Decision recorded. The request is now: Rejected.').waitFor({ timeout: 20_000 });
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
  await page.getByText('Decision recorded. The request is now: Pending.').waitFor({ timeout: 20_000 });
  expect(await statusOf(request.requestId)).toBe('PENDING');

  await page.getByRole('link', { name: 'My approvals' }).click();
  await page.getByRole('link', { name: request.requestId, exact: true }).click();
  await page.getByRole('button', { name: 'Approve', exact: true }).click();
  await page.getByText('Decision recorded. The request is now: Approved.').waitFor({ timeout: 20_000 });
  await page.screenshot({ path: path.join(SHOTS, 'approved-after-postpone.png'), fullPage: true });

  const events = await harness.waitForEvents(request.requestId, 3);
  expect(events.map((e) => e.type)).toEqual(['OPENED', 'POSTPONED', 'APPROVED']);
  await waitForEmails(request.requester.email, 1);
  await page.getByRole('link', { name: 'My approvals' }).click();
  await pollUntil(async () => page.getByRole('link', { name: request.requestId, exact: true }).count(), (n) => n === 0, { what: 'the task to leave the list' });
}, 60_000);

test('when the network fails after a decision reached the worker, then the page sends it again with the same Idempotency-Key, and the worker decides once', async () => {
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  const page = await signInAs(request.approvers[0]!);
  const writes: Array<{ path: string; key: string | undefined }> = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname.startsWith('/api/')) writes.push({ path: new URL(r.url()).pathname, key: r.headers()['idempotency-key'] });
  });
  // The first decision reaches the worker, and its answer is lost on the way back.
  let lose = true;
  await page.route('**/decisions', async (route) => {
    if (!lose) return route.continue();
    lose = false;
    await route.fetch();
    await route.abort('failed');
  });
  await openFromSearch(page, request.requestId);
  await page.getByRole('button', { name: 'Postpone' }).click();
  await page.getByText('Decision recorded. The request is now: Pending.').waitFor({ timeout: 20_000 });
  await page.getByRole('button', { name: 'Approve', exact: true }).click();
  await page.getByText('Decision recorded. The request is now: Approved.').waitFor({ timeout: 20_000 });

  const [postponed, retried, approved] = writes;
  expect(writes).toHaveLength(3);
  expect(postponed!.key).toMatch(/^[0-9a-f]{32}$/);
  expect(retried).toEqual(postponed);
  expect(approved!.key).toMatch(/^[0-9a-f]{32}$/);
  expect(approved!.key).not.toBe(postponed!.key);
  const events = await pollUntil(async () => harness.eventsFor(request.requestId), (found) => found.some((e) => e.type === 'APPROVED'), { what: 'the approval' });
  expect(events.map((e) => e.type)).toEqual(['OPENED', 'POSTPONED', 'APPROVED']);
}, 60_000);

test('when an approver has more tasks than one page holds, then More tasks adds the next page until every task is listed, and selecting them approves them in one go', async () => {
  const approver = aPerson('approver');
  const requests = Array.from({ length: PAGE_LIMIT.default + 1 }, () => aRequest('LOCK_CARD', { approvers: [approver, aPerson('approver')] }));
  for (const request of requests) await harness.publishRequest(request);
  for (const request of requests) await harness.waitForEvents(request.requestId, 1);

  const page = await signInAs(approver);
  await page.getByRole('link', { name: 'My approvals' }).click();
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
  await page.getByText(`Decisions sent: ${requests.length - 1}.`).waitFor({ timeout: 20_000 });
  // The list refreshes by itself once the worker has applied them.
  await pollUntil(remaining, (ids) => ids.length === 1 && ids[0] === requests[0]!.requestId, { what: 'only the unselected task left' });
  await page.screenshot({ path: path.join(SHOTS, 'bulk-approved.png'), fullPage: true });
  for (const request of requests.slice(1)) expect((await harness.waitForEvents(request.requestId, 2))[1]).toMatchObject({ type: 'APPROVED', decision: { approver: { id: approver.id } } });

  await page.getByLabel(`Select ${requests[0]!.requestId}`).check();
  await page.getByRole('button', { name: 'Postpone selected' }).click();
  await page.getByText('Decisions sent: 1.').waitFor({ timeout: 20_000 });
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
  await page.getByLabel('Id', { exact: true }).fill(request.requester.id);
  await page.getByLabel('Name', { exact: true }).fill(request.requester.name);
  await page.getByLabel('Email', { exact: true }).fill(request.requester.email);
  await page.getByLabel('Role').selectOption('requester');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Requests' }).waitFor();
  await openFromSearch(page, request.requestId);
  expect(await page.getByRole('button', { name: 'Approve', exact: true }).isVisible()).toBe(false); // a requester does not decide
  await page.getByRole('cell', { name: request.approvers.map((a) => a.name).join(', ') }).waitFor();
  await page.getByLabel(/no longer needed/).fill('Found my old badge');
  await page.getByRole('button', { name: 'Withdraw request' }).click();
  await page.getByText('Decision recorded. The request is now: Withdrawn.').waitFor({ timeout: 20_000 });
  await page.screenshot({ path: path.join(SHOTS, 'withdrawn-by-requester.png'), fullPage: true });

  const events = await harness.waitForEvents(request.requestId, 2);
  expect(events[1]).toMatchObject({ type: 'CANCELLED', status: 'CANCELLED', decision: { decision: 'WITHDRAWN', actingAs: 'REQUESTER', reason: 'Found my old badge' } });
  for (const approver of request.approvers) {
    const emails = await waitForEmails(approver.email, 2);
    expect(emails[1]!.subject).toBe(`Withdrawn: Request card (${request.requestId})`);
  }
}, 60_000);

test('when an approver decides a multi-card request per card in the page, then two cards are approved, the third rejected with its reason, and the request ends PARTIALLY_APPROVED', async () => {
  const request = aRequest('REQUEST_MULTIPLE_CARDS');
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  const [approver] = request.approvers;

  const page = await signInAs(approver!);
  await openFromSearch(page, request.requestId);
  // The policy: one stage where any one approver decides, active, nobody has voted yet.
  await page.getByRole('row', { name: /1\. Approval \(active\) one approver .*none yet/ }).waitFor();
  await page.getByLabel('Decision for card 3').selectOption({ label: 'Reject' });
  await page.getByRole('button', { name: 'Decide per card' }).click();
  await page.getByText('A rejected card needs a reason: card 3.').waitFor();
  await page.getByLabel('Reason for card 3').fill('Already holds a parking card');
  await page.screenshot({ path: path.join(SHOTS, 'per-card-choices.png'), fullPage: true });
  await page.getByRole('button', { name: 'Decide per card' }).click();
  await page.getByText('Decision recorded. The request is now: Partly approved.').waitFor({ timeout: 20_000 });
  await page.screenshot({ path: path.join(SHOTS, 'partially-approved.png'), fullPage: true });

  const [, ended] = await harness.waitForEvents(request.requestId, 2);
  expect(ended).toMatchObject({ type: 'PARTIALLY_APPROVED', status: 'PARTIALLY_APPROVED', decision: { approver: { id: approver!.id } } });
  expect(ended!.cardResults).toEqual([
    { cardIndex: 0, outcome: 'APPROVED', reason: null },
    { cardIndex: 1, outcome: 'APPROVED', reason: null },
    { cardIndex: 2, outcome: 'REJECTED', reason: 'Already holds a parking card' },
  ]);
  // The page shows the end and how each card ended, and offers no more choices.
  expect(await page.locator('#request-status').textContent()).toBe('Partly approved');
  expect(await page.locator('#card-info tbody tr td:nth-child(6)').allTextContents()).toEqual(['Approved', 'Approved', 'Rejected: Already holds a parking card']);
  expect(await page.getByRole('button', { name: 'Decide per card' }).isVisible()).toBe(false);
  await page.getByRole('row', { name: new RegExp(`^1\\. Approval one approver .*${approver!.name}: approved`) }).waitFor();
  const [email] = await waitForEmails(request.requester.email, 1);
  expect(email!.subject).toMatch(/^Partly approved/);

  // The search finds it by its new status.
  await page.locator('#tabs').getByRole('link', { name: 'Search' }).click();
  await page.getByLabel('Request, requester or card').fill(request.requestId);
  await page.getByLabel('Status').selectOption('PARTIALLY_APPROVED');
  await page.locator('#search-form').getByRole('button', { name: 'Search' }).click();
  await page.getByRole('row', { name: new RegExp(`^${request.requestId} Request multiple cards Partly approved`) }).waitFor();
}, 60_000);

test('when an approver delegates in the page, then the delegate sees and decides the approver\'s request', async () => {
  const approver = aPerson('approver');
  const request = aRequest('LOCK_CARD', { approvers: [approver, aPerson('approver')] });
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  const delegate = aPerson('delegate');

  const page = await signInAs(approver);
  await page.getByRole('link', { name: 'Delegation', exact: true }).click();
  await page.getByLabel("Delegate's id").fill(delegate.id);
  await page.getByLabel("Delegate's name").fill(delegate.name);
  await page.getByLabel("Delegate's email").fill(delegate.email);
  // Tomorrow in the browser's own time zone, as its date field takes it.
  const tomorrow = await page.evaluate(() => { const d = new Date(); d.setDate(d.getDate() + 1); return d.toLocaleDateString('en-CA'); });
  await page.getByLabel('Until').fill(tomorrow);
  await page.getByRole('button', { name: 'Delegate', exact: true }).click();
  await page.getByText(`Delegated to ${delegate.name} until`).waitFor();
  const listed = page.getByRole('row', { name: new RegExp(`\\(${delegate.id}\\)`) });
  await listed.getByRole('button', { name: `Revoke the delegation to ${delegate.name}` }).waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'delegated.png'), fullPage: true });

  const asDelegate = await signInAs(delegate);
  await asDelegate.getByRole('link', { name: 'My approvals' }).click();
  await asDelegate.getByRole('link', { name: request.requestId, exact: true }).click();
  await asDelegate.getByText(`You decide for ${approver.name} as their delegate.`).waitFor();
  await asDelegate.getByRole('button', { name: 'Approve', exact: true }).click();
  await asDelegate.getByText('Decision recorded. The request is now: Approved.').waitFor({ timeout: 20_000 });
  // The policy and the history say for whom the delegate decided.
  await asDelegate.getByText(`${delegate.name}: approved, for ${approver.name}`).waitFor();
  await asDelegate.getByRole('cell', { name: `${delegate.name} decided for ${approver.name} as their delegate.` }).waitFor();
  await asDelegate.screenshot({ path: path.join(SHOTS, 'approved-by-delegate.png'), fullPage: true });

  const [, approved] = await harness.waitForEvents(request.requestId, 2);
  expect(approved).toMatchObject({ type: 'APPROVED', decision: { approver: { id: delegate.id }, onBehalfOf: { id: approver.id } } });
  expect(approved!.decision!.onBehalfOf!.id).toBe(approver.id);

  // The approver is back and revokes it: it stays listed, as revoked.
  await listed.getByRole('button', { name: `Revoke the delegation to ${delegate.name}` }).click();
  await page.getByText(`The delegation to ${delegate.name} is revoked.`).waitFor();
  await listed.getByRole('cell', { name: new RegExp(`^Revoked .* by ${approver.name}$`) }).waitFor();
  expect(await listed.getByRole('button').count()).toBe(0);
}, 60_000);

test('when the page is switched to Svenska, then its words are Swedish (and the choice is remembered)', async () => {
  const page = await signInAs(aPerson('approver'));
  expect(await page.locator('html').getAttribute('lang')).toBe('en'); // the browser's English by default

  await page.getByLabel('Language').selectOption({ label: 'Svenska' });
  const tabs = page.locator('#tabs');
  await tabs.getByRole('link', { name: 'Mina godkännanden' }).waitFor();
  await page.locator('#search-form').getByRole('button', { name: 'Sök' }).waitFor();
  await page.getByRole('heading', { name: 'Begäranden' }).waitFor();
  expect(await page.locator('html').getAttribute('lang')).toBe('sv');
  await tabs.getByRole('link', { name: 'Mina godkännanden' }).click();
  await page.getByRole('button', { name: 'Godkänn markerade' }).waitFor();
  await page.getByRole('columnheader', { name: 'Behövs senast' }).waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'svenska.png'), fullPage: true });

  await page.reload();
  await page.getByRole('heading', { name: 'Vad vill du göra' }).waitFor(); // the view shown before the reload
  await tabs.getByRole('link', { name: 'Mina godkännanden' }).waitFor();
  expect(await page.getByLabel('Språk').inputValue()).toBe('sv'); // the label is Swedish too

  await page.getByLabel('Språk').selectOption({ label: 'English' });
  await page.getByRole('heading', { name: 'What do you want to do' }).waitFor();
  await tabs.getByRole('link', { name: 'My approvals' }).waitFor();
  expect(await page.locator('html').getAttribute('lang')).toBe('en');
}, 60_000);

test('when an approver sorts the task list by due date, then the request needed soonest comes first', async () => {
  const approver = aPerson('approver');
  const hour = 3_600_000;
  const dueIn = (ms: number | null) => aRequest('LOCK_CARD', { approvers: [approver, aPerson('approver')], dueAt: ms === null ? null : Date.now() + ms });
  // Published neither in due order nor in its reverse, whichever way the list comes by default.
  const [later, none, soonest, middle] = [dueIn(48 * hour), dueIn(null), dueIn(hour), dueIn(5 * hour)];
  for (const request of [later!, none!, soonest!, middle!]) await harness.publishRequest(request);
  for (const request of [later!, none!, soonest!, middle!]) await harness.waitForEvents(request.requestId, 1);

  const page = await signInAs(approver);
  await page.getByRole('link', { name: 'My approvals' }).click();
  const ids = () => page.locator('#task-list tbody tr td:nth-child(2)').allTextContents();
  await pollUntil(ids, (listed) => listed.length === 4, { what: 'the four tasks' });
  // Each row says when it is needed ("—" without a due date) and how long it has waited.
  const noDue = page.getByRole('row', { name: new RegExp(none!.requestId) });
  expect(await noDue.locator('td:nth-child(5)').textContent()).toBe('—');
  expect(await noDue.locator('td:nth-child(6)').textContent()).toMatch(/^\d+ min$/);

  const neededBy = page.getByRole('columnheader', { name: 'Needed by' });
  await neededBy.getByRole('button').click();
  const ascending = [soonest!, middle!, later!, none!].map((r) => r.requestId);
  await pollUntil(ids, (listed) => JSON.stringify(listed) === JSON.stringify(ascending), { what: 'the tasks by due date, soonest first' });
  expect(await neededBy.getAttribute('aria-sort')).toBe('ascending');
  await page.screenshot({ path: path.join(SHOTS, 'tasks-by-due-date.png'), fullPage: true });

  await neededBy.getByRole('button').click();
  const descending = [later!, middle!, soonest!, none!].map((r) => r.requestId); // no due date stays last
  await pollUntil(ids, (listed) => JSON.stringify(listed) === JSON.stringify(descending), { what: 'the tasks by due date, latest first' });
  expect(await neededBy.getAttribute('aria-sort')).toBe('descending');
}, 60_000);
