// Every screen of the approvers' page and every one-click page, in every shipped language, at
// 1280 and 375 px, in one real Chromium: axe-core with the WCAG 2.2 AA tags finds nothing, no
// screen scrolls sideways, no word of English is left in Swedish or German and no raw enum symbol
// is shown in any language; the Nu HTML Checker finds no error in the page as served, after its
// scripts ran, or in the one-click pages. The data reaches every status, every history entry
// type and every refusal a page can show. And a keyboard alone opens, rejects and approves.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { DecisionLinks } from '../../src/adapters/email/decision-links';
import { APPROVAL_EVENT_TYPES, REFUSAL_CODES } from '../../src/domain/approval';
import { ACTOR_ROLES, DECISION_KINDS, OPERATIONS, STATUSES, VOTE_MODES, type CardOperationRequest, type Person } from '../../src/domain/card-operation';
import { pollUntil } from '../../src/libraries/retry';
import { aCard, aDecision, aPerson, aRequest } from '../support/builders';
import { startHarnessWithWorker, type Harness } from '../support/test-worker';

const SHOTS = path.join(__dirname, '..', '..', 'test-artifacts', 'screenshots');
const LOCALES = path.join(__dirname, '..', '..', 'templates', 'locales');
const SECRET = 'page-link-secret-that-is-long-enough-01234';
const LANGUAGES = ['en', 'sv', 'de'] as const;
type Language = (typeof LANGUAGES)[number];
const BROWSER_LOCALE: Record<Language, string> = { en: 'en-GB', sv: 'sv-SE', de: 'de-DE' };
const ZONE: Record<Language, string> = { en: 'Europe/London', sv: 'Europe/Stockholm', de: 'Europe/Berlin' };
const WIDTHS = [1280, 375];
const WCAG = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
/** Words that are the same in English and in the language: not left untranslated. */
const SAME_WORD: Record<Exclude<Language, 'en'>, string[]> = {
  sv: ['status', 'min', 'id', 'detaljer'],
  de: ['status', 'name', 'min', 'details'],
};
/** The enum symbols the product has: none of them may be shown to a person as it is. */
const SYMBOLS = new Set<string>([...STATUSES, ...APPROVAL_EVENT_TYPES, ...OPERATIONS, ...REFUSAL_CODES, ...VOTE_MODES, ...ACTOR_ROLES, ...DECISION_KINDS, 'ACTIVE']);

let harness: Harness;
let base: string;
let browser: Browser;
const links = () => new DecisionLinks({ secrets: [SECRET], ttlMs: 3600_000, baseUrl: `${base}/email-actions` });
const served: Array<{ name: string; html: string }> = [];
const seen: string[] = [];

// People with names no language's words contain, so a word found on a screen is the page's own.
// Ids and serial numbers carry digits: the word check reads no word in them.
let made = 0;
const person = (role: string, name: string, locale: string | null = null): Person => aPerson(role, { id: `${role}-${(made += 1)}-${randomUUID().slice(0, 8)}`, name, locale });
const card = (holder: Person) => aCard(holder, { cardId: `K-${(made += 1)}${randomUUID().slice(0, 6)}`, serialNumber: `SN-${(made += 1)}${randomUUID().slice(0, 4)}` });
const viewer = person('approver', 'Ingrid Lund');
const colleague = person('approver', 'Karl Berg');
const third = person('approver', 'Maja Holm');
const operator = person('operator', 'Olof Ek');
const escalation = person('officer', 'Petra Sund');
const oneClickApprover: Record<Language, Person> = { en: person('approver', 'Nils Dahl', 'en'), sv: person('approver', 'Stina Ek', 'sv'), de: person('approver', 'Jonas Wirth', 'de') };

function requestFor(operation: CardOperationRequest['operation'], overrides: Partial<CardOperationRequest> = {}): CardOperationRequest {
  const holder = person('holder', 'Tove Ring');
  const cards = operation === 'REQUEST_MULTIPLE_CARDS' ? [card(holder), card(holder), card(holder)] : [card(holder)];
  return aRequest(operation, { requester: person('requester', 'Lars Norrby'), cards, description: 'Kort 4711', approvers: [viewer, colleague, third], ...overrides });
}

/** The requests the screens show, each brought to its state by the worker itself. */
const seeded: Record<string, CardOperationRequest> = {};

async function seed(): Promise<void> {
  const pending = requestFor('LOCK_CARD', { dueAt: Date.now() + 86_400_000 });
  const approved = requestFor('REQUEST_CARD');
  const rejected = requestFor('LOCK_CARD');
  const withdrawn = requestFor('LOCK_CARD');
  const partial = requestFor('REQUEST_MULTIPLE_CARDS');
  const voted = requestFor('DEACTIVATE_CARD');
  const same = card(person('holder', 'Tove Ring'));
  const superseded = requestFor('DEACTIVATE_CARD', { cards: [same] });
  const expired = requestFor('REACTIVATE_CARD', { cards: [same] });
  Object.assign(seeded, { pending, approved, rejected, withdrawn, partial, voted, superseded, expired });
  for (const r of [pending, approved, rejected, withdrawn, partial, voted, superseded]) await harness.publishRequest(r);
  for (const r of [pending, approved, rejected, withdrawn, partial, voted, superseded]) await harness.waitForEvents(r.requestId, 1);
  const stranger = person('approver', 'Ruben Falk');
  await harness.publishDecisions(
    // Every refusal a request can show, on the one still pending; then a postponement.
    aDecision(pending, 'APPROVED', { approver: pending.requester }),
    aDecision(pending, 'APPROVED', { approver: pending.cards[0]!.holder }),
    aDecision(pending, 'APPROVED', { approver: stranger }),
    aDecision(pending, 'REJECTED', { reason: null }),
    aDecision(pending, 'APPROVED', { cardOutcomes: [{ cardIndex: 0, outcome: 'APPROVED', reason: null }] }),
    aDecision(pending, 'WITHDRAWN', { approver: colleague }),
    aDecision(pending, 'REASSIGNED', { approver: colleague, reassign: { from: third, to: stranger } }),
    aDecision(pending, 'POSTPONED', { approver: colleague }),
    aDecision(approved, 'APPROVED'),
    aDecision(approved, 'REJECTED', { approver: colleague, reason: 'för sent' }),
    aDecision(rejected, 'REJECTED', { reason: 'Kortet behövs' }),
    aDecision(withdrawn, 'WITHDRAWN', { approver: withdrawn.requester, actingAs: 'REQUESTER', reason: 'Hittade kortet' }),
    aDecision(partial, 'APPROVED', { cardOutcomes: [{ cardIndex: 7, outcome: 'REJECTED', reason: 'x' }] }),
    aDecision(partial, 'APPROVED', { cardOutcomes: [{ cardIndex: 2, outcome: 'REJECTED', reason: 'Har redan ett' }] }),
    // Two votes decide a deactivation (QUORUM 2): a vote, a second one refused, a reassignment, the deciding vote.
    aDecision(voted, 'APPROVED'),
    aDecision(voted, 'APPROVED'),
    aDecision(voted, 'REASSIGNED', { approver: operator, actingAs: 'OPERATOR', reassign: { from: third, to: stranger } }),
    aDecision(voted, 'APPROVED', { approver: colleague }),
  );
  // A reactivation of the same card supersedes the deactivation; no one decides it, so it is reminded, escalated and expires.
  await harness.publishRequest(expired);
  const ends = { pending: 'PENDING', approved: 'APPROVED', rejected: 'REJECTED', withdrawn: 'CANCELLED', partial: 'PARTIALLY_APPROVED', voted: 'APPROVED', superseded: 'SUPERSEDED', expired: 'EXPIRED' };
  const types = (r: CardOperationRequest) => harness.eventsFor(r.requestId).map((e) => e.type);
  await pollUntil(async () => types(pending).length, (n) => n >= 9, { what: 'the refusals and the postponement', timeoutMs: 30_000 });
  await pollUntil(async () => types(expired), (t) => t.includes('EXPIRED') && t.includes('ESCALATED') && t.includes('REMINDED'), { what: 'the reactivation reminded, escalated and expired', timeoutMs: 30_000 });
  for (const [name, status] of Object.entries(ends)) {
    await pollUntil(async () => (await harness.record(seeded[name]!.requestId))?.status, (s) => s === status, { what: `${name} to be ${status}`, timeoutMs: 30_000 });
  }
  await pollUntil(async () => types(voted).length, (n) => n >= 5, { what: 'the votes', timeoutMs: 30_000 });
  const everyType = new Set(Object.values(seeded).flatMap(types));
  expect([...APPROVAL_EVENT_TYPES].filter((t) => !everyType.has(t))).toEqual([]);
  const refusals = new Set(Object.values(seeded).flatMap((r) => harness.eventsFor(r.requestId).map((e) => e.refusalCode)));
  // UNKNOWN_REQUEST names a request that never arrived: there is no page to show it on.
  expect(REFUSAL_CODES.filter((c) => c !== 'UNKNOWN_REQUEST' && !refusals.has(c))).toEqual([]);

  // A delegation of each kind the delegation screen shows: one in force, one revoked.
  const token = await signInToken(viewer);
  const call = (url: string, body?: unknown, method = 'POST') =>
    fetch(`${base}${url}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': `${Math.random()}` }, body: body ? JSON.stringify(body) : undefined }).then((r) => r.json() as Promise<{ delegationId: string }>);
  await call('/api/delegations', { delegate: person('approver', 'Vera Strand'), endsAt: new Date(Date.now() + 3 * 86_400_000).toISOString() });
  const revoked = await call('/api/delegations', { delegate: person('approver', 'Edvin Sjö'), endsAt: new Date(Date.now() + 86_400_000).toISOString() });
  await call(`/api/delegations/${encodeURIComponent(revoked.delegationId)}`, undefined, 'DELETE');
}

async function signInToken(who: Person, roles = ['approver']): Promise<string> {
  const res = await fetch(`${base}/auth/local`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: who.id, name: who.name, email: who.email, roles }) });
  return ((await res.json()) as { token: string }).token;
}

beforeAll(async () => {
  ({ harness, base } = await startHarnessWithWorker({
    AUTH_SECRET: 'page-test-secret-long-enough-0123456789',
    AUTH_LOCAL_SIGNIN: 'true',
    EMAIL_LINK_SECRET: SECRET,
    EMAIL_LINK_TTL: '1h',
    EMAIL_TIME_ZONE: 'Europe/Stockholm',
    APPROVAL_POLICY: JSON.stringify({ DEACTIVATE_CARD: { rule: 'QUORUM 2' } }),
    APPROVAL_TIMERS: JSON.stringify({ REACTIVATE_CARD: { remindAfter: '1s', remindIntervalMax: '1s', escalateAfter: '2s', escalateTo: [escalation], expireAfter: '4s' } }),
  }));
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'] });
  fs.mkdirSync(SHOTS, { recursive: true });
  await seed();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await harness?.stop();
});

// --- What a screen must not show ----------------------------------------------------------

const catalog = (lang: string): Record<string, string> => JSON.parse(fs.readFileSync(path.join(LOCALES, `${lang}.json`), 'utf8')) as Record<string, string>;
const wordsOf = (text: string): string[] => text.toLowerCase().match(/\p{L}+/gu) ?? [];
/** The English words of the shipped texts that the language's own texts never use. */
function englishOnly(lang: Exclude<Language, 'en'>): Set<string> {
  const own = new Set(Object.values(catalog(lang)).flatMap((v) => wordsOf(v.replace(/\{\{[^}]*\}\}/g, ' '))));
  const english = Object.values(catalog('en')).flatMap((v) => wordsOf(v.replace(/\{\{[^}]*\}\}/g, ' ')));
  return new Set(english.filter((w) => w.length > 1 && !own.has(w) && !SAME_WORD[lang].includes(w)));
}
const ENGLISH_ONLY = { sv: englishOnly('sv'), de: englishOnly('de') };

/** Every text a person meets on the screen: visible text, the title, and the names and hints of controls (run in the page). */
const TEXTS_SHOWN = `(() => {
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (el.closest('script, style') || !el.checkVisibility()) continue;
    if (n.textContent.trim()) out.push(n.textContent.trim());
  }
  for (const el of document.querySelectorAll('[aria-label], [title], [placeholder], [alt]')) {
    for (const a of ['aria-label', 'title', 'placeholder', 'alt']) if (el.getAttribute(a)) out.push(el.getAttribute(a));
  }
  for (const option of document.querySelectorAll('option')) out.push(option.textContent.trim());
  return out;
})()`;
const textsShown = (page: Page): Promise<string[]> => page.evaluate(TEXTS_SHOWN);

const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
/** axe-core in the page (put in once per document), with the WCAG 2.2 AA tags and no filter on impact. */
async function axeViolations(page: Page): Promise<Array<{ id: string; impact: string; targets: string[] }>> {
  if (!(await page.evaluate('typeof axe === "object"'))) await page.evaluate(AXE);
  return page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ${JSON.stringify(WCAG)} }, resultTypes: ['violations'] })
    .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(' ')) })))`);
}

async function problemsOn(page: Page, lang: Language, width: number): Promise<string[]> {
  const problems: string[] = [];
  for (const v of await axeViolations(page)) problems.push(`axe ${v.id} (${v.impact}): ${v.targets.slice(0, 3).join(', ')}`);
  const { scroll, viewport } = await page.evaluate<{ scroll: number; viewport: number }>('({ scroll: document.documentElement.scrollWidth, viewport: window.innerWidth })');
  if (scroll > viewport) problems.push(`scrolls sideways at ${width} px: ${scroll} px wide`);
  // Words are the same at both widths: read once.
  if (width === WIDTHS[0]) {
    for (const text of await textsShown(page)) {
      // Data written by people (names, ids, addresses, descriptions) is theirs: the seed keeps it free of English.
      const symbols = (text.match(/\b[A-Z][A-Z_]{2,}\b/g) ?? []).filter((s) => SYMBOLS.has(s));
      // A word looked up and not found would be shown as its key.
      if (/\b(page|oneClick|status|history|refusal|policy|vote|role|actingAs|stageName|cardStatus|outcome)\.[\w.]+/.test(text)) problems.push(`a key shown raw in "${text}"`);
      if (symbols.length) problems.push(`raw symbol ${symbols.join(', ')} in "${text}"`);
      if (lang !== 'en') {
        // Ids, addresses, serial numbers and times (anything with a digit or an @) are read as no words.
        const chunks = text.split(/[\s,;:()<>"]+/).filter((chunk) => !/[\d@]/.test(chunk));
        const english = chunks.flatMap(wordsOf).filter((w) => ENGLISH_ONLY[lang].has(w));
        if (english.length) problems.push(`English ${english.join(', ')} in "${text}"`);
      }
    }
  }
  return problems;
}

/** The screen as it is now, at every width: axe, the scroll width and the words; kept for the HTML checker. */
async function check(page: Page, lang: Language, screen: string, failures: string[]): Promise<void> {
  seen.push(`${lang} ${screen}`);
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    for (const p of await problemsOn(page, lang, width)) failures.push(`${lang} ${screen} @${width}: ${p}`);
  }
  await page.setViewportSize({ width: WIDTHS[0]!, height: 900 });
  served.push({ name: `${lang}-${screen}`, html: await page.content() });
}

async function context(lang: Language): Promise<BrowserContext> {
  return browser.newContext({ locale: BROWSER_LOCALE[lang], timezoneId: ZONE[lang], bypassCSP: true, viewport: { width: WIDTHS[0]!, height: 900 } });
}

// --- The screens ----------------------------------------------------------------------------

/** Opens a screen by its address (a new document) or, for a view of the page, by its link. */
async function openView(page: Page, to: string, ready: Locator): Promise<void> {
  if (to.startsWith('#')) await page.locator(`#tabs a[href="${to}"]`).click();
  else await page.goto(to);
  // A view is shown once its data is in (the page shows it last).
  await ready.waitFor();
}

test('every screen of the page, in every language at 1280 and 375 px: no axe violation, no sideways scroll, no English left, no raw symbol', async () => {
  const failures: string[] = [];
  for (const lang of LANGUAGES) {
    const ctx = await context(lang);
    const page = await ctx.newPage();
    await openView(page, `${base}/approvals`, page.locator('#sign-in-form'));
    await check(page, lang, 'sign-in', failures);
    const words = catalog(lang);
    await page.evaluate((t) => sessionStorage.setItem('token', t), await signInToken(viewer));
    await openView(page, `${base}/approvals`, page.locator('#search'));
    await check(page, lang, 'search', failures);
    await openView(page, '#tasks', page.locator('#tasks'));
    await check(page, lang, 'tasks', failures);
    if (lang === 'de') await page.setViewportSize({ width: 375, height: 900 });
    if (lang === 'de') await page.screenshot({ path: path.join(SHOTS, 'tasks-de-375.png'), fullPage: true });
    await openView(page, '#delegation', page.locator('#delegation'));
    await check(page, lang, 'delegation', failures);
    for (const [name, request] of Object.entries(seeded)) {
      await openView(page, `${base}/approvals/${encodeURIComponent(request.requestId)}`, page.locator('#request'));
      await check(page, lang, `request-${name}`, failures);
      if (name === 'pending') {
        // The reject reason asked for, and told at the field.
        await page.locator('[data-decision="REJECTED"]').click();
        await page.locator('#decision-reason[aria-invalid="true"]').waitFor();
        expect(await page.locator('#decision-reason-error').textContent()).toBe(words['page.reason.missing']);
        await check(page, lang, 'request-reason-missing', failures);
        if (lang === 'de') {
          await page.setViewportSize({ width: 375, height: 900 });
          await page.screenshot({ path: path.join(SHOTS, 'request-de-375.png'), fullPage: true });
        }
      }
    }
    await ctx.close();
  }
  expect(failures).toEqual([]);
}, 240_000);

test('every one-click page, in the approver\'s language at 1280 and 375 px, shows the request, its cards, holder and requester, and what happens; every dead end links to the request and says who decided', async () => {
  const failures: string[] = [];
  for (const lang of LANGUAGES) {
    const words = catalog(lang);
    const approver = oneClickApprover[lang];
    const request = requestFor('LOCK_CARD', { approvers: [approver, viewer] });
    await harness.publishRequest(request);
    await harness.waitForEvents(request.requestId, 1);
    const link = links().linksFor(`e-${lang}`, request.requestId, approver, Date.now());
    const ctx = await context(lang);
    const page = await ctx.newPage();

    for (const decision of ['APPROVED', 'POSTPONED', 'REJECTED'] as const) {
      await page.goto(link[decision]);
      await page.getByRole('heading', { level: 1, name: words[`oneClick.confirm.${decision}`] }).waitFor();
      // The whole picture: the card and its holder, the requester, what will happen.
      for (const shown of [`${request.cards[0]!.cardId} · ${request.cards[0]!.cardType}`, `${request.cards[0]!.holder.name} <${request.cards[0]!.holder.email}>`, request.requester.name, words[`oneClick.effect.${decision}`]!]) await page.getByText(shown, { exact: true }).waitFor();
      await check(page, lang, `one-click-confirm-${decision}`, failures);
      if (lang === 'sv' && decision === 'APPROVED') await page.screenshot({ path: path.join(SHOTS, 'one-click-confirm-sv.png'), fullPage: true });
    }
    // On the reject page: a form too large, then no reason (the browser's own check set aside), each a page of its own.
    await page.locator('#reason').fill('x'.repeat(17_000));
    await page.getByRole('button').click();
    await page.getByRole('heading', { level: 1, name: words['oneClick.tooLarge.title'] }).waitFor();
    await check(page, lang, 'one-click-too-large', failures);
    await page.goto(link.REJECTED);
    await page.locator('form').evaluate((form) => { (form as unknown as { noValidate: boolean }).noValidate = true; });
    await page.getByRole('button').click();
    await page.locator('#reason[aria-invalid="true"]').waitFor();
    await check(page, lang, 'one-click-reason-missing', failures);

    await page.goto(link.APPROVED);
    await page.getByRole('button').click();
    await page.getByRole('heading', { level: 1, name: words['oneClick.sent.APPROVED'] }).waitFor();
    await page.getByRole('link', { name: request.requestId }).waitFor();
    await check(page, lang, 'one-click-sent', failures);
    await pollUntil(async () => (await harness.record(request.requestId))?.status, (s) => s === 'APPROVED', { what: 'the approval applied' });

    const decided = words['oneClick.decidedBy']!.split('{{')[0]!;
    await page.goto(link.REJECTED);
    await page.getByRole('heading', { level: 1, name: words['oneClick.used.title'] }).waitFor();
    await page.getByText(`${decided}${approver.name}`).waitFor();
    await check(page, lang, 'one-click-used', failures);
    await page.goto(links().linksFor(`other-${lang}`, request.requestId, approver, Date.now()).POSTPONED);
    await page.getByRole('heading', { level: 1, name: words['oneClick.closed.title'] }).waitFor();
    await page.getByText(`${decided}${approver.name}`).waitFor();
    await page.getByRole('link', { name: request.requestId }).waitFor();
    await check(page, lang, 'one-click-closed', failures);
    // No longer asked (their part reassigned), a link for no stored request, an expired and a forged one.
    const another = requestFor('LOCK_CARD', { approvers: [approver, viewer] });
    await harness.publishRequest(another, aDecision(another, 'REASSIGNED', { approver: operator, actingAs: 'OPERATOR', reassign: { from: approver, to: colleague } }));
    await harness.waitForEvents(another.requestId, 2);
    await page.goto(links().linksFor(`reassigned-${lang}`, another.requestId, approver, Date.now()).APPROVED);
    await page.getByRole('heading', { level: 1, name: words['oneClick.refused.title'] }).waitFor();
    await check(page, lang, 'one-click-refused', failures);
    await page.goto(links().linksFor(`gone-${lang}`, 'req-never-stored', approver, Date.now()).APPROVED);
    await page.getByRole('heading', { level: 1, name: words['oneClick.notFound.title'] }).waitFor();
    await check(page, lang, 'one-click-not-found', failures);
    await page.goto(new DecisionLinks({ secrets: [SECRET], ttlMs: 1000, baseUrl: `${base}/email-actions` }).linksFor('e', request.requestId, approver, Date.now() - 5000).APPROVED);
    await page.getByRole('heading', { level: 1, name: words['oneClick.expired.title'] }).waitFor();
    await check(page, lang, 'one-click-expired', failures);
    await page.goto(`${base}/email-actions/not-a-link`);
    await page.getByRole('heading', { level: 1, name: words['oneClick.invalid.title'] }).waitFor();
    await check(page, lang, 'one-click-invalid', failures);
    await ctx.close();
  }
  expect(failures).toEqual([]);
}, 180_000);

test('the Nu HTML Checker finds no error in the page as served in each language, in every screen after its scripts ran, or in the one-click pages', async () => {
  for (const lang of LANGUAGES) {
    const res = await fetch(`${base}/approvals`, { headers: { 'accept-language': BROWSER_LOCALE[lang] } });
    served.push({ name: `${lang}-as-served`, html: await res.text() });
  }
  expect(served).toHaveLength(seen.length + LANGUAGES.length);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'html-check-'));
  for (const { name, html } of served) fs.writeFileSync(path.join(dir, `${name}.html`), html);
  const jar = require.resolve('vnu-jar/build/dist/vnu.jar');
  // vnu exits 1 when it reports errors; the report is what counts.
  const run = await promisify(execFile)('java', ['-jar', jar, '--errors-only', '--format', 'json', '--skip-non-html', dir], { maxBuffer: 64 * 1024 * 1024 }).catch((error: { stdout: string; stderr: string }) => error);
  const report = JSON.parse(run.stderr || run.stdout || '{"messages":[]}') as { messages: Array<{ url: string; message: string; extract?: string }> };
  expect(report.messages.map((m) => `${path.basename(m.url)}: ${m.message}`)).toEqual([]);
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

// --- The keyboard alone ---------------------------------------------------------------------

const focused = (target: Locator): Promise<boolean> => target.evaluate((el) => el === el.ownerDocument.activeElement);

/** Presses Tab until `target` has the focus (at most 80 times). */
async function tabTo(page: Page, target: Locator): Promise<void> {
  for (let i = 0; i < 80; i += 1) {
    if (await focused(target).catch(() => false)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached ${target.toString()}`);
}

test('with the keyboard alone, an approver opens a request from the task list and rejects it with a reason, and opens another from the search and approves it', async () => {
  const approver = person('approver', 'Greta Vik');
  const [first, second] = [requestFor('LOCK_CARD', { approvers: [approver, colleague] }), requestFor('LOCK_CARD', { approvers: [approver, colleague] })];
  for (const r of [first, second]) await harness.publishRequest(r);
  for (const r of [first, second]) await harness.waitForEvents(r.requestId, 1);
  const ctx = await context('en');
  const page = await ctx.newPage();
  await page.goto(`${base}/approvals`);

  // Sign in: type into each field, Enter submits.
  for (const [label, value] of [['Id', approver.id], ['Name', approver.name], ['Email', approver.email]] as const) {
    await tabTo(page, page.getByLabel(label, { exact: true }));
    await page.keyboard.type(value);
  }
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Requests' }).waitFor();

  // The task list, then the first request, by their links.
  await tabTo(page, page.getByRole('link', { name: 'My approvals' }));
  await page.keyboard.press('Enter');
  await page.getByRole('link', { name: first.requestId }).waitFor();
  await tabTo(page, page.getByRole('link', { name: first.requestId }));
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: new RegExp(first.requestId) }).waitFor();

  // Reject without a reason: told at the field, which gets the focus; type the reason, reject.
  await tabTo(page, page.getByRole('button', { name: 'Reject' }));
  await page.keyboard.press('Enter');
  const reason = page.getByRole('textbox', { name: 'Reason (required to reject)' });
  await page.getByText('A rejection needs a reason.').waitFor();
  expect(await focused(reason)).toBe(true);
  expect([await reason.getAttribute('aria-invalid'), await reason.getAttribute('required')]).toEqual(['true', '']);
  await page.keyboard.type('Kortet används fortfarande');
  await tabTo(page, page.getByRole('button', { name: 'Reject' }));
  await page.keyboard.press('Enter');
  // The result is announced (a status region) and has the focus: the buttons are gone.
  const result = page.getByRole('status').filter({ hasText: 'Decision recorded. The request is now: Rejected.' });
  await result.waitFor({ timeout: 20_000 });
  expect(await focused(result)).toBe(true);

  // The search: type the id, Enter, then the request's link, then Approve.
  await tabTo(page, page.getByRole('link', { name: 'Search' }));
  await page.keyboard.press('Enter');
  await tabTo(page, page.getByLabel('Request, requester or card'));
  await page.keyboard.type(second.requestId);
  await page.keyboard.press('Enter');
  await page.getByRole('link', { name: second.requestId }).waitFor();
  await tabTo(page, page.getByRole('link', { name: second.requestId }));
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: new RegExp(second.requestId) }).waitFor();
  await tabTo(page, page.getByRole('button', { name: 'Approve', exact: true }));
  await page.keyboard.press('Enter');
  await page.getByRole('status').filter({ hasText: 'Decision recorded. The request is now: Approved.' }).waitFor({ timeout: 20_000 });

  // On a phone the list's header is hidden, but a sort button that has the focus is seen.
  await page.setViewportSize({ width: 375, height: 900 });
  await tabTo(page, page.getByRole('link', { name: 'My approvals' }));
  await page.keyboard.press('Enter');
  const sort = page.getByRole('button', { name: 'Needed by' });
  await tabTo(page, sort);
  // Seen: the point in its middle is the button's own, not clipped away.
  const seenAtItsMiddle = (el: { getBoundingClientRect(): { x: number; y: number; width: number; height: number }; ownerDocument: { elementFromPoint(x: number, y: number): unknown }; contains(other: unknown): boolean }) => {
    const box = el.getBoundingClientRect();
    return el.contains(el.ownerDocument.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2));
  };
  expect(await sort.evaluate(seenAtItsMiddle as never)).toBe(true);

  expect([(await harness.record(first.requestId))?.status, (await harness.record(second.requestId))?.status]).toEqual(['REJECTED', 'APPROVED']);
  const rejection = harness.eventsFor(first.requestId).find((e) => e.type === 'REJECTED');
  expect(rejection?.decision).toMatchObject({ reason: 'Kortet används fortfarande', approver: { id: approver.id } });
  await ctx.close();
}, 90_000);
