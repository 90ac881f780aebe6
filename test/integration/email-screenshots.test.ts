// Every email kind, in every shipped language, rendered as the worker renders it and screenshot in
// a real Chromium at a desktop and a mobile width, into test-artifacts/emails/. A layout that
// overflows the mobile width fails the test.
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { EMAIL_LOCALES, EmailRenderer } from '../../src/adapters/email/render-email';
import { DecisionLinks } from '../../src/adapters/email/decision-links';
import { EMAIL_TEMPLATES, type ApprovalEvent } from '../../src/domain/approval';
import { aCard, aPerson, aRequest } from '../support/builders';

const SHOTS = path.join(__dirname, '..', '..', 'test-artifacts', 'emails');
const WIDTHS = { desktop: 800, mobile: 375 } as const;
let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  fs.mkdirSync(SHOTS, { recursive: true });
});
afterAll(() => browser?.close());

const request = aRequest('REQUEST_MULTIPLE_CARDS', { description: 'Access badges for the new project team in building C', dueAt: Date.UTC(2026, 11, 24, 16), requestedAt: Date.UTC(2026, 10, 30, 8, 15) });
request.cards = request.cards.map((c, i) => aCard(aPerson('holder'), { ...c, cardId: `card-${1000 + i}`, validTo: Date.UTC(2028, 0, 31) }));
const event: ApprovalEvent = {
  eventId: 'screenshot',
  type: 'PARTIALLY_APPROVED',
  requestId: request.requestId,
  operation: request.operation,
  status: 'PARTIALLY_APPROVED',
  occurredAt: Date.UTC(2026, 10, 30, 10),
  requester: { ...request.requester, name: 'Rita Requester' },
  cards: request.cards,
  description: request.description,
  approvers: request.approvers,
  requestedAt: request.requestedAt,
  dueAt: request.dueAt,
  decision: { decisionId: 'd', decision: 'APPROVED', approver: { ...request.approvers[0]!, name: 'Alice Approver' }, reason: 'One parking card per person', decidedAt: Date.UTC(2026, 10, 30, 9, 59), actingAs: 'APPROVER', onBehalfOf: null, reassign: null },
  refusalCode: null,
  message: 'Reminder 2: still waiting for a decision.',
  progress: null,
  cardResults: request.cards.map((_, cardIndex) => ({ cardIndex, outcome: cardIndex === 2 ? 'REJECTED' : 'APPROVED', reason: cardIndex === 2 ? 'One parking card per person' : null })),
};
const links = new DecisionLinks({ secrets: ['a-link-secret-long-enough-for-the-test-0123'], ttlMs: 7 * 86_400_000, baseUrl: 'https://approvals.example.com/email-actions' });
const renderer = new EmailRenderer({ operatorUrl: 'https://approvals.example.com/approvals', defaultLocale: 'en', operationLocales: {}, timeZone: 'Europe/Stockholm', links });

test(`every email kind in every language (${EMAIL_LOCALES.join(', ')}) is screenshot at ${Object.values(WIDTHS).join(' and ')} px, and fits the mobile width`, async () => {
  const page = await browser.newPage();
  const written: string[] = [];
  const overflowing: string[] = [];
  for (const locale of EMAIL_LOCALES) {
    for (const template of EMAIL_TEMPLATES) {
      const { html } = renderer.render(template, event, { ...aPerson('recipient'), name: 'Sam Recipient', locale });
      for (const [name, width] of Object.entries(WIDTHS)) {
        await page.setViewportSize({ width, height: 900 });
        await page.setContent(html, { waitUntil: 'load' });
        const file = path.join(SHOTS, `${template}.${locale}.${name}.png`);
        await page.screenshot({ path: file, fullPage: true });
        written.push(file);
        if ((await page.evaluate('document.documentElement.scrollWidth')) as number > width) overflowing.push(`${template} ${locale} ${name}`);
      }
    }
  }
  await page.close();
  expect(overflowing).toEqual([]);
  expect(written.filter((f) => fs.statSync(f).size > 5000)).toHaveLength(EMAIL_LOCALES.length * EMAIL_TEMPLATES.length * 2);
});

test(`at 375 px, the Approve, Postpone and Reject buttons of every approver email in every language (${EMAIL_LOCALES.join(', ')}) keep their words whole on one line, and nothing scrolls sideways`, async () => {
  const page = await browser.newPage({ viewport: { width: WIDTHS.mobile, height: 900 } });
  const found: Array<{ email: string; buttons: Array<{ text: string; lines: number }>; scrollWidth: number }> = [];
  for (const locale of EMAIL_LOCALES) {
    for (const template of EMAIL_TEMPLATES.filter((t) => t.startsWith('approval-'))) {
      const { html } = renderer.render(template, event, { ...aPerson('recipient'), name: 'Sam Recipient', locale });
      await page.setContent(html, { waitUntil: 'load' });
      // A line of text is one client rect of its text: a word broken across two lines makes two.
      // (Run in the page, as text: the tests are compiled without the DOM's types.)
      const buttons = (await page.evaluate(`[...document.querySelectorAll('a[href*="/email-actions/"]')].map((link) => {
        const range = document.createRange();
        range.selectNodeContents(link);
        return { text: link.textContent, lines: range.getClientRects().length };
      })`)) as Array<{ text: string; lines: number }>;
      found.push({ email: `${template} ${locale}`, buttons, scrollWidth: (await page.evaluate('document.documentElement.scrollWidth')) as number });
    }
  }
  await page.close();
  expect(found.filter((f) => f.buttons.length !== 3 || f.buttons.some((b) => b.lines !== 1) || f.scrollWidth > WIDTHS.mobile)).toEqual([]);
});
