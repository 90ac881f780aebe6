// Every email kind rendered from a fully populated event: no labelled field may come out empty
// when the data has it (the "Requested at" that every approver email once showed blank).
import { EMAIL_TEMPLATES, type ApprovalEvent } from '../../src/domain/approval';
import fs from 'node:fs';
import path from 'node:path';
import { EMAIL_LOCALES, EmailRenderer, readCatalog, resolveLocale } from '../../src/adapters/email/render-email';
import { DecisionLinks } from '../../src/adapters/email/decision-links';
import { OPERATIONS } from '../../src/domain/card-operation';
import fc from 'fast-check';
import { NAME_ALONE, SUBJECT_MAX, shortenName, subjectLength } from '../../src/adapters/email/subject-line';
import { aCard, aPerson, aRequest } from '../support/builders';

const request = aRequest('REQUEST_MULTIPLE_CARDS', { description: 'Badges for the new project team', dueAt: Date.UTC(2026, 11, 24, 17), requestedAt: Date.UTC(2026, 10, 30, 9, 15) });
request.cards = request.cards.map((c, i) => aCard(aPerson('holder'), { ...c, cardId: `card-${i}`, status: 'ACTIVE', validTo: Date.UTC(2028, 0, 31) }));
const approver = request.approvers[0]!;

/** An event with every field the templates can read set to a value. */
const FULL: ApprovalEvent = {
  eventId: 'event-1',
  type: 'PARTIALLY_APPROVED',
  requestId: request.requestId,
  operation: request.operation,
  status: 'PARTIALLY_APPROVED',
  occurredAt: Date.UTC(2026, 10, 30, 10),
  requester: request.requester,
  cards: request.cards,
  description: request.description,
  approvers: request.approvers,
  requestedAt: request.requestedAt,
  dueAt: request.dueAt,
  decision: {
    decisionId: 'decision-1',
    decision: 'APPROVED',
    approver,
    reason: 'Budget approved for two of them',
    decidedAt: Date.UTC(2026, 10, 30, 9, 59),
    actingAs: 'APPROVER',
    onBehalfOf: request.approvers[1]!,
    reassign: null,
  },
  refusalCode: null,
  message: 'Reminder 2: still waiting for a decision.',
  progress: { stage: 1, stages: 2, stageName: 'line manager', approvals: 1, required: 1 },
  cardResults: request.cards.map((_, cardIndex) => ({ cardIndex, outcome: cardIndex === 2 ? 'REJECTED' : 'APPROVED', reason: cardIndex === 2 ? 'Already holds one' : null })),
};

/** Labels with nothing after them: "Requested at:" at a line's end, an empty table cell, "by  on". */
function emptyFields(part: 'text' | 'html', rendered: string): string[] {
  const found: string[] = [];
  if (part === 'text') {
    for (const line of rendered.split('\n')) if (/^\s*[A-Za-z][A-Za-z ]{1,40}:\s*$/.test(line)) found.push(line.trim());
  } else {
    for (const match of rendered.matchAll(/<th[^>]*>([^<]*)<\/th>\s*<td[^>]*>\s*<\/td>/g)) found.push(`${match[1]} (empty cell)`);
    for (const match of rendered.matchAll(/<(td|p|strong|h2)[^>]*>\s*<\/\1>/g)) found.push(match[0]);
  }
  for (const match of rendered.matchAll(/\b(by|on|to|for)\s+(on|by|\.|,)/g)) found.push(`"${match[0]}"`);
  return found;
}

const links = new DecisionLinks({ secrets: ['a-link-secret-long-enough-for-the-test-0123'], ttlMs: 86_400_000, baseUrl: 'https://approvals.example.com/email-actions' });
const renderer = new EmailRenderer({ operatorUrl: 'https://approvals.example.com/approvals', defaultLocale: 'en', operationLocales: {}, timeZone: 'UTC', links });

const kinds = EMAIL_LOCALES.flatMap((locale) => EMAIL_TEMPLATES.map((template) => [template, locale] as const));

/** When the request expires, as the email relay reads it from the request's expiry timer. */
const EXPIRES_AT = Date.UTC(2026, 11, 14, 9, 15);

test.each(kinds)('the %s email in %s, rendered from a fully populated event, leaves no labelled field empty', (template, locale) => {
  const email = renderer.render(template, FULL, { ...approver, locale }, { expiresAt: EXPIRES_AT });
  expect(email.locale).toBe(locale);
  expect({ template, subject: email.subject.includes(request.requestId), text: emptyFields('text', email.text), html: emptyFields('html', email.html) }).toEqual({ template, subject: true, text: [], html: [] });
  expect(email.html).toContain(`<html lang="${locale}">`);
  // Approvers get the three one-click links, signed for them; requesters get none.
  expect((email.html.match(/\/email-actions\//g) ?? []).length).toBe(template.startsWith('approval-') ? 3 : 0);
});

/** The words of the approvers' page and the one-click pages: the screens' own test finds each one shown (no key is shown raw). */
const PAGE_WORDS = /^(page|oneClick|status|history|refusal|policy|vote|role|actingAs|stageName)\./;

test('every language has every key English has, and nothing else; every key the email templates use exists, and every email key is used', () => {
  const english = Object.keys(readCatalog('en')).filter((key) => !PAGE_WORDS.test(key)).sort();
  const every = Object.keys(readCatalog('en')).sort();
  for (const locale of EMAIL_LOCALES) expect({ locale, keys: Object.keys(readCatalog(locale)).sort() }).toEqual({ locale, keys: every });
  const dir = path.join(__dirname, '..', '..', 'templates', 'email');
  const sources = [...fs.readdirSync(dir).filter((f) => f.endsWith('.hbs')).map((f) => path.join(dir, f)), ...fs.readdirSync(path.join(dir, 'partials')).map((f) => path.join(dir, 'partials', f))];
  const used = new Set(sources.flatMap((f) => [...fs.readFileSync(f, 'utf8').matchAll(/[{(]t "([^"]+)"/g)].map((m) => m[1]!)));
  for (const template of EMAIL_TEMPLATES) used.add(`subject.${template}`).add(`intro.${template}`);
  for (const op of OPERATIONS) used.add(`operation.${op}`);
  used.add('outcome.APPROVED').add('outcome.REJECTED');
  // Card statuses are looked up by the status a card has.
  for (const key of english) if (key.startsWith('cardStatus.')) used.add(key);
  expect([...used].filter((key) => !english.includes(key))).toEqual([]);
  expect(english.filter((key) => !used.has(key))).toEqual([]);
});

test.each([
  ['sv-SE', null, 'sv', /^Att godkänna: /],
  ['de-AT', null, 'de', /^Zu genehmigen: /],
  ['fr-FR', null, 'en', /^Approval needed: /],
  [null, 'sv', 'sv', /^Att godkänna/],
  ['de', 'sv', 'de', /^Zu genehmigen/],
  [null, null, 'en', /^Approval needed/],
] as const)('a recipient with locale %s (operation\'s %s) reads %s', (recipientLocale, operationLocale, expected, subject) => {
  const lock = { ...FULL, operation: 'LOCK_CARD' as const, type: 'OPENED' as const };
  const chosen = new EmailRenderer({ operatorUrl: 'https://a.example', defaultLocale: 'en', operationLocales: operationLocale ? { LOCK_CARD: operationLocale } : {}, timeZone: 'UTC' });
  const email = chosen.render('approval-requested', lock, { ...approver, locale: recipientLocale });
  expect([email.locale, email.subject]).toEqual([expected, expect.stringMatching(subject)]);
});

test('times are shown in the configured time zone, the way each language writes them', () => {
  const stockholm = new EmailRenderer({ operatorUrl: 'https://a.example', defaultLocale: 'en', operationLocales: {}, timeZone: 'Europe/Stockholm' });
  const requested = (locale: string) => /(Requested at|Begärd|Beantragt am): (.*)/.exec(stockholm.render('approval-requested', FULL, { ...approver, locale }).text)?.[2];
  expect([requested('en'), requested('sv'), requested('de')]).toEqual(['2026-11-30 10:15 CET', '30 november 2026 kl. 10:15 CET', '30. November 2026 um 10:15 CET']);
  expect(resolveLocale(['SV_se'])).toBe('sv');
});

test('the check finds a field that renders empty (requestedAt missing from the event)', () => {
  const email = renderer.render('approval-requested', { ...FULL, requestedAt: null }, approver);
  expect(emptyFields('text', email.text)).toEqual(['Requested at:']);
  expect(emptyFields('html', email.html)).toEqual(['Requested at (empty cell)', expect.stringMatching(/^<td/)]);
});

describe('the plain-text part', () => {
  const HEADINGS = ['heading.request', 'heading.cards', 'heading.requester', 'heading.perCard'];

  test.each(kinds)('of the %s email in %s has its blocks apart, one blank line between each, and no capitals for emphasis', (template, locale) => {
    const { text } = renderer.render(template, FULL, { ...approver, locale });
    const words = readCatalog(locale);
    const blocks = text.trimEnd().split('\n\n');
    expect(text).not.toMatch(/\n\n\n/);
    expect(text.endsWith('\n') && !text.endsWith('\n\n')).toBe(true);
    // Greeting, intro, then the sections, the actions and the footer, each a block of its own.
    expect(blocks[0]).toBe(words.greeting!.replace('{{recipient.name}}', approver.name));
    expect(blocks.at(-1)).toMatch(new RegExp(`^${words.footer} · ${request.requestId}$`));
    const headings = HEADINGS.map((key) => words[key]!.toLocaleUpperCase());
    for (const block of blocks.slice(1)) {
      // A heading starts its block, never sits in the middle of one.
      for (const line of block.split('\n').slice(1)) expect({ template, locale, line, heading: headings.some((h) => line.startsWith(h)) }).toEqual({ template, locale, line, heading: false });
    }
    // The intro's emphasis is the words themselves, as the catalog writes them.
    const emphasised = /\{\{#em\}\}(.*?)\{\{\/em\}\}/.exec(words[`intro.${template}`]!)?.[1];
    if (emphasised) expect(blocks[1]).toContain(` ${emphasised}`);
  });

  test('a reminder says which one it is, without repeating the event\'s message', () => {
    const reminder = { ...FULL, type: 'REMINDED' as const, message: 'Reminder 2: still waiting for a decision.' };
    const intro = (locale: string) => renderer.render('approval-reminder', reminder, { ...approver, locale }).text.split('\n\n')[1];
    expect([intro('en'), intro('sv'), intro('de')]).toEqual([
      'A card operation is still waiting for your approval. This is reminder 2.',
      'Ett kortärende väntar fortfarande på ditt godkännande. Det här är påminnelse nummer 2.',
      'Ein Kartenvorgang wartet noch immer auf Ihre Genehmigung. Dies ist die 2. Erinnerung.',
    ]);
    // An event that does not say which reminder it is (an unexpected message) reads without the number.
    expect(renderer.render('approval-reminder', { ...reminder, message: null }, approver).text.split('\n\n')[1]).toBe('A card operation is still waiting for your approval.');
  });

  test('an expired request says when it expired, in plain words', () => {
    const expired = { ...FULL, type: 'EXPIRED' as const, status: 'EXPIRED' as const, message: 'No decision within the time the operation allows.' };
    const intro = (locale: string) => renderer.render('request-expired', expired, { ...request.requester, locale }).text.split('\n\n')[1];
    expect([intro('en'), intro('sv'), intro('de')]).toEqual([
      'Your request expired on 2026-11-30 10:00 UTC because no decision was made in time. It will not be carried out. If it is still needed, please send a new request.',
      'Din begäran löpte ut den 30 november 2026 kl. 10:00 UTC eftersom inget beslut fattades i tid. Åtgärden kommer inte att genomföras. Om den fortfarande behövs kan du skicka en ny begäran.',
      'Ihr Antrag ist am 30. November 2026 um 10:00 UTC abgelaufen, da nicht rechtzeitig darüber entschieden wurde. Der Vorgang wird daher nicht durchgeführt. Falls er weiterhin benötigt wird, stellen Sie bitte einen neuen Antrag.',
    ]);
  });
});

test('approver emails say when the request expires, in every language; the requester\'s do not, nor an email with no expiry', () => {
  const expiry = (template: (typeof EMAIL_TEMPLATES)[number], locale: string, expiresAt: number | null = EXPIRES_AT) => {
    const email = renderer.render(template, FULL, { ...approver, locale }, { expiresAt });
    return { text: /^ {2}(Expires|Löper ut|Läuft ab am): (.*)$/m.exec(email.text)?.slice(1), html: email.html.includes(readCatalog(locale)['label.expires']!) };
  };
  for (const template of ['approval-requested', 'approval-reminder', 'approval-escalated'] as const) {
    expect([expiry(template, 'en'), expiry(template, 'sv'), expiry(template, 'de')]).toEqual([
      { text: ['Expires', '2026-12-14 09:15 UTC'], html: true },
      { text: ['Löper ut', '14 december 2026 kl. 09:15 UTC'], html: true },
      { text: ['Läuft ab am', '14. Dezember 2026 um 09:15 UTC'], html: true },
    ]);
    expect(expiry(template, 'en', null)).toEqual({ text: undefined, html: false });
  }
  for (const template of EMAIL_TEMPLATES.filter((t) => !t.startsWith('approval-'))) expect(expiry(template, 'en')).toEqual({ text: undefined, html: false });
});

test('card statuses and per-card outcomes read as words of the language; a status no language knows is shown as sent', () => {
  const withStatuses = { ...FULL, cards: FULL.cards.map((card, i) => ({ ...card, status: ['ACTIVE', 'locked', 'RETIRED_BY_HR'][i]! })) };
  const read = (locale: string) => {
    const email = renderer.render('request-partially-approved', withStatuses, { ...request.requester, locale });
    return {
      html: [...email.html.matchAll(/>(?:Status)<\/th><td[^>]*>([^<]*)</g)].map((m) => m[1]),
      text: [...email.text.matchAll(/, status (.*?)(?:,|$)/gim)].map((m) => m[1]),
      outcomes: [...email.text.matchAll(/^ {2}\d\. .*: (\S+)/gm)].map((m) => m[1]),
    };
  };
  expect([read('en'), read('sv'), read('de')]).toEqual([
    { html: ['Active', 'Locked', 'RETIRED_BY_HR'], text: ['active', 'locked', 'RETIRED_BY_HR'], outcomes: ['Approved', 'Approved', 'Rejected'] },
    { html: ['Aktivt', 'Spärrat', 'RETIRED_BY_HR'], text: ['aktivt', 'spärrat', 'RETIRED_BY_HR'], outcomes: ['Godkänt', 'Godkänt', 'Avslaget'] },
    { html: ['Aktiv', 'Gesperrt', 'RETIRED_BY_HR'], text: ['aktiv', 'gesperrt', 'RETIRED_BY_HR'], outcomes: ['Genehmigt', 'Genehmigt', 'Abgelehnt'] },
  ]);
});

describe('subjects', () => {
  const forty = (text: string) => text.repeat(40).slice(0, 40);
  const everyKind = EMAIL_LOCALES.flatMap((locale) => EMAIL_TEMPLATES.flatMap((template) => OPERATIONS.map((operation) => [template, locale, operation] as const)));
  const subjectOf = (template: (typeof EMAIL_TEMPLATES)[number], locale: string, operation: (typeof OPERATIONS)[number], requestId: string, name: string) =>
    renderer.render(template, { ...FULL, operation, requestId, requester: { ...request.requester, name } }, { ...approver, locale }).subject;

  test.each(everyKind)('the %s subject in %s (%s) stays under 70 characters with a 40-character request id and name, and keeps the id whole', (template, locale, operation) => {
    const requestId = `req-${forty('0123456789abcdef')}`.slice(0, 40);
    const subject = subjectOf(template, locale, operation, requestId, forty('Maximiliane Alexandra von Hohenzollern '));
    expect({ length: subjectLength(subject) < 70, id: subject.endsWith(` (${requestId})`) }).toEqual({ length: true, id: true });
  });

  test('with room to spare, a subject shows the operation and the whole name; a long name is cut first, then the operation gives way', () => {
    const name = 'Anna Svensson';
    const long = 'Maximiliane Alexandra von Hohenzollern-S';
    expect([
      subjectOf('approval-requested', 'en', 'LOCK_CARD', 'REQ-1042', name),
      subjectOf('approval-reminder', 'sv', 'LOCK_CARD', 'REQ-1042', name),
      subjectOf('approval-escalated', 'de', 'LOCK_CARD', 'REQ-1042', name),
      subjectOf('request-approved', 'de', 'REQUEST_MULTIPLE_CARDS', 'REQ-1042', name),
      subjectOf('approval-requested', 'en', 'REQUEST_MULTIPLE_CARDS', 'REQ-1042', long),
      subjectOf('approval-requested', 'de', 'REQUEST_MULTIPLE_CARDS', 'CR-2026-000012345678', long),
      subjectOf('request-partially-approved', 'de', 'REQUEST_MULTIPLE_CARDS', `req-${'e'.repeat(36)}`, name),
    ]).toEqual([
      'Approval needed: Lock card for Anna Svensson (REQ-1042)',
      'Påminnelse: Spärra kort för Anna Svensson (REQ-1042)',
      'An Sie eskaliert: Karte sperren für Anna Svensson (REQ-1042)',
      'Genehmigt: Mehrere Karten beantragen (REQ-1042)',
      'Approval needed: Request multiple cards for Maximiliane A… (REQ-1042)',
      'Zu genehmigen: Maximiliane Alexandra von Hohe… (CR-2026-000012345678)',
      `Teilweise genehmigt (req-${'e'.repeat(36)})`,
    ]);
  });

  test('whatever the name and id, a subject is the longest it may be at most, keeps the id whole and cuts a name only between graphemes, ending in "…"', () => {
    const name = fc.string({ unit: fc.constantFrom('a', 'Z', ' ', '-', 'é', 'e\u0301', '👩🏽‍💻', '李', 'ß'), minLength: 1, maxLength: 60 }).map((n) => n.trim().replace(/\s+/g, ' ')).filter((n) => n.length > 0);
    const requestId = fc.string({ unit: fc.constantFrom('r', 'Q', '-', '7', '_'), minLength: 1, maxLength: 50 });
    fc.assert(
      fc.property(fc.constantFrom(...everyKind), name, requestId, ([template, locale, operation], n, id) => {
        const subject = subjectOf(template, locale, operation, id, n);
        expect(subject.endsWith(`(${id})`)).toBe(true);
        expect(subject).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
        if (subjectLength(id) <= 40) expect(subjectLength(subject)).toBeLessThanOrEqual(SUBJECT_MAX);
        const cut = /([^:]*)… \(/u.exec(subject)?.[1];
        if (cut !== undefined && template.startsWith('approval-')) {
          const shown = cut.split(/ (?:for|för|für) /).at(-1)!.trim();
          expect(n.startsWith(shown)).toBe(true);
          expect([...new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(n)].map((g) => g.index)).toContain(shown.length);
        }
      }),
      { numRuns: 300 },
    );
    expect([shortenName('Anna Svensson', 7), shortenName('Anna-Lena', 6), shortenName('Ann', NAME_ALONE)]).toEqual(['Anna S…', 'Anna…', 'Ann']);
  });
});

test('at start-up every kind of email renders in every language (the warm-up that compiles the templates), so a template that cannot render fails start-up', () => {
  const rendered = jest.spyOn(renderer, 'render');
  renderer.warmUp();
  expect(rendered).toHaveBeenCalledTimes(EMAIL_TEMPLATES.length * EMAIL_LOCALES.length);
  expect(rendered.mock.results.every((r) => r.type === 'return')).toBe(true);
  rendered.mockRestore();
});
