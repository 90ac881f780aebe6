// One-click decisions from a real approver email read out of the SMTP inbox, in a real Chromium:
// a GET only shows a confirmation page; confirming publishes the decision as the API does; a link
// decides once; a forged, expired or stale link changes nothing and says so; a link names nobody,
// and links of the previous version's format still decide.
import { chromium, type Browser } from 'playwright-core';
import { DecisionLinks } from '../../src/adapters/email/decision-links';
import type { CardOperationRequest, Person } from '../../src/domain/card-operation';
import { aCard, aPerson, aRequest } from '../support/builders';
import { waitForEmails, type InboxEmail } from '../support/inbox';
import { linksBeforeReferences } from '../support/links-before-references';
import { peopleNamedIn } from '../support/link-readings';
import { startHarness, startHarnessWithWorker, type Harness } from '../support/test-worker';

const SECRET = 'email-link-secret-that-is-long-enough-0123';
let harness: Harness;
let base: string;
let browser: Browser;

beforeAll(async () => {
  ({ harness, base } = await startHarnessWithWorker({ EMAIL_LINK_SECRET: SECRET, EMAIL_LINK_TTL: '1h' }));
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
});
afterAll(async () => {
  await browser?.close();
  await harness?.stop();
});

async function emailAbout(request: CardOperationRequest, approver: Person): Promise<InboxEmail> {
  const [email] = (await waitForEmails(approver.email, 1)).filter((e) => e.subject.includes(request.requestId));
  return email!;
}

/** The Approve, Postpone and Reject links of `approver`'s email about `request`, pointed at this worker. */
async function linksIn(request: CardOperationRequest, approver: Person): Promise<{ approve: string; postpone: string; reject: string }> {
  const email = await emailAbout(request, approver);
  const found = [...email!.html!.matchAll(/href="([^"]*\/email-actions\/[^"]+)"/g)].map((m) => `${base}${new URL(m[1]!.replace(/&amp;/g, '&')).pathname}`);
  expect(email!.text).toContain('/email-actions/');
  expect(found).toHaveLength(3);
  return { approve: found[0]!, postpone: found[1]!, reject: found[2]! };
}

async function opened(overrides: Partial<CardOperationRequest> = {}): Promise<CardOperationRequest> {
  const request = aRequest('LOCK_CARD', overrides);
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  return request;
}

test('when an approver clicks Approve in the email and confirms, then the request is approved; a GET alone decides nothing, and a second click changes nothing and says so', async () => {
  const request = await opened();
  const approver = request.approvers[0]!;
  const { approve, reject } = await linksIn(request, approver);

  // What a mail scanner does: fetch the link, twice. Nothing is decided.
  for (let i = 0; i < 2; i += 1) expect((await fetch(approve)).status).toBe(200);

  const page = await browser.newPage();
  await page.goto(approve);
  await page.getByRole('heading', { name: 'Approve this request?' }).waitFor();
  await page.getByRole('button', { name: 'Approve', exact: true }).click();
  await page.getByRole('heading', { name: 'Approval sent' }).waitFor();
  const events = await harness.waitForEvents(request.requestId, 2);
  expect(events.map((e) => e.type)).toEqual(['OPENED', 'APPROVED']);
  expect(events[1]!.decision).toMatchObject({ approver: { id: approver.id, email: approver.email }, actingAs: 'APPROVER' });

  await page.goto(approve);
  await page.getByRole('heading', { name: 'This link has already been used' }).waitFor();
  expect(await page.getByText('Nothing was changed.').isVisible()).toBe(true);
  const again = await fetch(approve, { method: 'POST', body: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  expect(again.status).toBe(409);
  // The email's other links are spent too: one email, one decision.
  const other = await fetch(reject);
  expect([other.status, await other.text()]).toEqual([409, expect.stringContaining('This link has already been used')]);
  await page.close();
  // One decision in all: the GETs and the second click added none.
  const [{ count }] = await harness.db.query('SELECT count(*)::int AS count FROM approval_decisions WHERE request_id = $1', [request.requestId]);
  expect(count).toBe(1);
  expect(harness.eventsFor(request.requestId)).toHaveLength(2);
});

test('when an approver rejects from the email, then the confirmation asks for a reason, and the rejection carries it', async () => {
  const request = await opened();
  const { reject } = await linksIn(request, request.approvers[1]!);
  const withoutReason = await fetch(reject, { method: 'POST', body: 'reason=', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  expect([withoutReason.status, await withoutReason.text()]).toEqual([400, expect.stringContaining('A rejection needs a reason.')]);
  // A form too large, or not in UTF-8, gets a page like the others and decides nothing.
  const huge = await fetch(reject, { method: 'POST', body: `reason=${'x'.repeat(20_000)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  expect([huge.status, huge.headers.get('content-type'), huge.headers.get('cache-control')]).toEqual([413, 'text/html; charset=utf-8', 'no-store']);
  const latin1 = await fetch(reject, { method: 'POST', body: Buffer.from('reason=f\xf6r sent', 'latin1'), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  expect([latin1.status, await latin1.text()]).toEqual([400, expect.stringContaining('The reason is not valid text.')]);
  const page = await browser.newPage();
  await page.goto(reject);
  await page.getByLabel('Reason (required)').fill('The card is still in use');
  await page.getByRole('button', { name: 'Reject', exact: true }).click();
  await page.getByRole('heading', { name: 'Rejection sent' }).waitFor();
  await page.close();
  const [, rejected] = await harness.waitForEvents(request.requestId, 2);
  expect(rejected).toMatchObject({ type: 'REJECTED', decision: { reason: 'The card is still in use', approver: { id: request.approvers[1]!.id } } });
});

test('an approver no longer asked (reassigned away) is told so on opening the link and on confirming it; the link decides neither as them nor as their successor', async () => {
  const request = await opened();
  const [away] = request.approvers;
  const { approve } = await linksIn(request, away!);
  const successor = aPerson('successor');
  await harness.publishDecision({ decisionId: `reassign-${request.requestId}`, requestId: request.requestId, decision: 'REASSIGNED', approver: aPerson('operator'), reason: null, decidedAt: Date.now(), actingAs: 'OPERATOR', cardOutcomes: [], reassign: { from: away!, to: successor } });
  await harness.waitForEvents(request.requestId, 2);
  const noLonger = expect.stringContaining("This link was sent to someone who is no longer one of the request&#x27;s approvers");
  const opened2 = await fetch(approve);
  const page = await opened2.text();
  expect([opened2.status, page]).toEqual([403, expect.stringContaining('This decision cannot be made')]);
  expect(page).toEqual(noLonger);
  expect(page).not.toContain(successor.name);
  const confirmed = await fetch(approve, { method: 'POST', body: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  expect([confirmed.status, await confirmed.text()]).toEqual([403, noLonger]);
  expect(harness.eventsFor(request.requestId).map((e) => e.type)).toEqual(['OPENED', 'REASSIGNED']);
  const [{ count }] = await harness.db.query('SELECT count(*)::int AS count FROM email_link_uses WHERE request_id = $1', [request.requestId]);
  expect(count).toBe(0);
});

test('no link in an approver email names anyone (the recipient, whose id is an address, the requester, the holder), in any reading of it', async () => {
  const tag = Math.random().toString(36).slice(2, 8);
  const recipient = aPerson('approver', { id: `Ann.Approver.${tag}@Corp.example`, email: `ann.approver.${tag}@corp.example`, name: `Ann Approver ${tag}` });
  const requester = aPerson('requester', { name: `Rita Requester ${tag}` });
  const holder = aPerson('holder', { name: `Hugo Holder ${tag}` });
  const request = await opened({ requester, cards: [aCard(holder)], approvers: [recipient, aPerson('approver')] });
  const email = await emailAbout(request, recipient);
  const links = [...email.html!.matchAll(/href="([^"]*\/email-actions\/[^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'));
  links.push(...(email.text!.match(/\S+\/email-actions\/\S+/g) ?? []));
  expect(links).toHaveLength(6);
  for (const link of links) expect({ link, named: peopleNamedIn(link, [recipient, requester, holder]) }).toEqual({ link, named: [] });
  // And the link still works: it finds its person in the record.
  const opening = await fetch(`${base}${new URL(links[0]!).pathname}`);
  expect([opening.status, await opening.text()]).toEqual([200, expect.stringContaining(recipient.name)]);
});

test('a link in the previous version\'s format (the approver in the link), as links already sent and those an older replica signs during a rolling update, still confirms a decision once', async () => {
  const request = await opened();
  const approver = request.approvers[0]!;
  await emailAbout(request, approver);
  const before = linksBeforeReferences({ secret: SECRET, ttlMs: 3600_000, baseUrl: `${base}/email-actions` }, `opened-${request.requestId}`, request.requestId, approver, Date.now());
  expect((await fetch(before.POSTPONED)).status).toBe(200);
  const confirm = () => fetch(before.APPROVED, { method: 'POST', body: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  const confirmed = await confirm();
  expect([confirmed.status, await confirmed.text()]).toEqual([200, expect.stringContaining('Approval sent')]);
  const [, approved] = await harness.waitForEvents(request.requestId, 2);
  expect(approved).toMatchObject({ type: 'APPROVED', decision: { approver: { id: approver.id, email: approver.email }, actingAs: 'APPROVER' } });
  expect((await confirm()).status).toBe(409);
  expect((await fetch(before.REJECTED)).status).toBe(409);
});

test('a link for a closed request, a forged link and an expired link each show a clear page and change nothing', async () => {
  const request = await opened();
  const [first, second] = request.approvers;
  const { approve } = await linksIn(request, first!);
  const { postpone } = await linksIn(request, second!);
  const page = await browser.newPage();
  await page.goto(approve);
  await page.getByRole('button', { name: 'Approve', exact: true }).click();
  await page.getByRole('heading', { name: 'Approval sent' }).waitFor();
  await harness.waitForEvents(request.requestId, 2);

  const closed = await fetch(postpone, { method: 'POST', body: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  expect([closed.status, await closed.text()]).toEqual([409, expect.stringMatching(/This request has already ended.*Approved.*Decided by /s)]);

  const token = new URL(approve).pathname.split('/').pop()!;
  const forged = `${base}/email-actions/${token.slice(0, -4)}AAAA`;
  expect((await fetch(forged)).status).toBe(400);
  const someoneElse = new DecisionLinks({ secrets: ['another-secret-that-is-long-enough-012345'], ttlMs: 3600_000, baseUrl: `${base}/email-actions` });
  expect((await fetch(someoneElse.linksFor('e', request.requestId, aPerson('mallory'), Date.now()).APPROVED)).status).toBe(400);
  const expired = new DecisionLinks({ secrets: [SECRET], ttlMs: 1000, baseUrl: `${base}/email-actions` }).linksFor('e', request.requestId, second!, Date.now() - 5000).APPROVED;
  await page.goto(expired);
  await page.getByRole('heading', { name: 'This link has expired' }).waitFor();
  await page.close();
  expect(harness.eventsFor(request.requestId)).toHaveLength(2);
});

test('when the link key is rotated (a new key first, the old one after it), then a link signed with the old key still decides, new emails are signed with the new key, and a key no longer listed is refused', async () => {
  // A harness of its own: which worker renders an email must be known.
  const own = await startHarness({ EMAIL_LINK_TTL: '1h' });
  try {
    const NEW = 'the-next-email-link-secret-long-enough-9876';
    const links = (secret: string, port: number): DecisionLinks => new DecisionLinks({ secrets: [secret], ttlMs: 3600_000, baseUrl: `http://127.0.0.1:${port}/email-actions` });
    const tokensIn = async (request: CardOperationRequest): Promise<string[]> => {
      const [email] = (await waitForEmails(request.approvers[0]!.email, 1)).filter((e) => e.subject.includes(request.requestId));
      return [...email!.html!.matchAll(/\/email-actions\/([^"]+)"/g)].map((m) => m[1]!);
    };
    const open = async (): Promise<CardOperationRequest> => {
      const request = aRequest('LOCK_CARD');
      await own.publishRequest(request);
      await own.waitForEvents(request.requestId, 1);
      return request;
    };

    const first = await own.startWorker({ EMAIL_LINK_SECRET: SECRET });
    const before = await open();
    const [approveBefore] = await tokensIn(before);
    await first.stop();

    const rotated = await own.startWorker({ EMAIL_LINK_SECRET: `${NEW}, ${SECRET}` });
    const confirmed = await fetch(`http://127.0.0.1:${rotated.httpPort}/email-actions/${approveBefore}`, { method: 'POST', body: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(confirmed.status).toBe(200);
    expect((await own.waitForEvents(before.requestId, 2)).map((e) => e.type)).toEqual(['OPENED', 'APPROVED']);
    const [approveAfter] = await tokensIn(await open());
    const verifies = (secret: string): boolean => links(secret, rotated.httpPort).read(approveAfter!, Date.now()) !== 'INVALID';
    expect({ withNew: verifies(NEW), withOld: verifies(SECRET) }).toEqual({ withNew: true, withOld: false });
    await rotated.stop();

    // Once the old key is dropped, what it signed is refused.
    const retired = await own.startWorker({ EMAIL_LINK_SECRET: NEW });
    expect((await fetch(links(SECRET, retired.httpPort).linksFor('e', before.requestId, before.approvers[1]!, Date.now()).APPROVED)).status).toBe(400);
  } finally {
    await own.stop();
  }
}, 90_000);
