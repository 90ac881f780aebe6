// Renders the emails from the Handlebars templates in templates/email (one layout for every kind)
// and the words of each language in templates/locales/<locale>.json, all compiled once at start-up.
// HTML escapes all message content; subjects are flattened to one line so nothing in a name,
// reason or description can add a header, and kept under 70 characters (subject-line.ts).
import fs from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { EMAIL_TEMPLATES, type ApprovalEvent, type EmailTemplate } from '../../domain/approval';
import { reminderNumber } from '../../domain/approval-timers';
import type { Operation, Person } from '../../domain/card-operation';
import { AppError, errorMessage } from '../../libraries/errors';
import type { DecisionLinks } from './decision-links';
import { fitSubject } from './subject-line';

const TEMPLATE_DIR = path.resolve(__dirname, '..', '..', '..', 'templates');
const LOCALE_DIR = path.join(TEMPLATE_DIR, 'locales');
const PARTIALS = ['request-information', 'card-information', 'requester-information', 'card-results'];
/** The kinds sent to approvers: they show who asked, and how to decide. */
const FOR_APPROVERS: readonly EmailTemplate[] = ['approval-requested', 'approval-reminder', 'approval-escalated'];

/** The languages shipped: one file each in templates/locales, every one with the same keys. */
export const EMAIL_LOCALES = fs
  .readdirSync(LOCALE_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();

export function readCatalog(locale: string): Record<string, string> {
  return JSON.parse(fs.readFileSync(path.join(LOCALE_DIR, `${locale}.json`), 'utf8')) as Record<string, string>;
}

/**
 * The first of `candidates` (a recipient's locale, the operation's, the worker's) that a shipped
 * language serves, trying each as written and then its language alone: sv-SE → sv.
 */
export function resolveLocale(candidates: Array<string | null | undefined>, fallback = 'en'): string {
  const shipped = new Map(EMAIL_LOCALES.map((l) => [l.toLowerCase(), l]));
  for (const candidate of candidates) {
    const tag = candidate?.trim().replace(/_/g, '-').toLowerCase();
    if (!tag) continue;
    const found = shipped.get(tag) ?? shipped.get(tag.split('-')[0]!);
    if (found) return found;
  }
  return fallback;
}

/** The first language of an Accept-Language header that is shipped, else `fallback`'s. */
export function localeAsked(acceptLanguage: string | undefined, fallback: string): string {
  const asked = (acceptLanguage ?? '')
    .split(',')
    .map((part) => part.split(';')[0]!.trim())
    .filter((tag) => tag && tag !== '*');
  return resolveLocale([...asked, fallback]);
}

export interface RenderOptions {
  operatorUrl: string;
  /** The worker's language, when neither the recipient nor the operation has one. */
  defaultLocale: string;
  /** Each operation's language, before the worker's. */
  operationLocales: Partial<Record<Operation, string>>;
  /** IANA time zone for every time shown (Europe/Stockholm, UTC…). */
  timeZone: string;
  /** One-click Approve / Postpone / Reject links in approver emails; none without them. */
  links?: DecisionLinks;
}

/** What an email shows that its event does not carry. */
export interface EmailFacts {
  /** When the request expires (its expiry timer); approver emails show it. */
  expiresAt?: number | null;
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
  locale: string;
}

type Compiled = (context: unknown, options?: Handlebars.RuntimeOptions) => string;

/** How a time reads in each language: English as ISO 8601 (unambiguous across Europe), the others as their own. */
export function timeFormatter(locale: string, timeZone: string): (ms: number) => string {
  // Built once: constructing an Intl.DateTimeFormat costs far more than formatting with one.
  const zoneName = new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'short' });
  const zone = (ms: number): string => zoneName.formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value ?? timeZone;
  if (locale === 'en') {
    const parts = new Intl.DateTimeFormat('en-GB', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    return (ms) => {
      const p = Object.fromEntries(parts.formatToParts(ms).map((x) => [x.type, x.value]));
      return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${zone(ms)}`;
    };
  }
  const format = new Intl.DateTimeFormat(locale, { timeZone, dateStyle: 'long', timeStyle: 'short' });
  return (ms) => `${format.format(ms)} ${zone(ms)}`;
}

/** A card's validity is a date, not a moment: shown as given (UTC), in the language's way. */
export function dateFormatter(locale: string): (ms: number) => string {
  if (locale === 'en') return (ms) => new Date(ms).toISOString().slice(0, 10);
  const format = new Intl.DateTimeFormat(locale, { timeZone: 'UTC', dateStyle: 'medium' });
  return (ms) => format.format(ms);
}

/** One Handlebars environment (HTML-escaping or plain text) with the helpers and every language's words. */
function environment(kind: 'html' | 'text', timeZone: string): { hbs: typeof Handlebars; layout: (part: 'html' | 'text' | 'subject') => Compiled } {
  const hbs = Handlebars.create();
  const escape = kind === 'html';
  // Words without a mustache are kept as they are: running a compiled template for each (most of
  // an email's words) cost two fifths of rendering it.
  const catalogs = new Map<string, Map<string, Compiled | string>>();
  const times = new Map(EMAIL_LOCALES.map((l) => [l, { time: timeFormatter(l, timeZone), date: dateFormatter(l) }]));
  const root = (options: Handlebars.HelperOptions): { locale: string } => options.data.root as { locale: string };
  hbs.registerHelper('formatTime', (value: unknown, options: Handlebars.HelperOptions) => (typeof value === 'number' ? times.get(root(options).locale)!.time(value) : ''));
  hbs.registerHelper('formatDate', (value: unknown, options: Handlebars.HelperOptions) => (typeof value === 'number' ? times.get(root(options).locale)!.date(value) : ''));
  hbs.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).join(''));
  hbs.registerHelper('upper', (value: unknown) => String(value).toLocaleUpperCase());
  // Emphasis: bold in HTML; in plain text the words as they are (capitals read as shouting, and
  // screen readers spell some of them out letter by letter).
  hbs.registerHelper('em', function (this: unknown, options: Handlebars.HelperOptions) {
    const inner = options.fn(this);
    return escape ? new hbs.SafeString(`<strong>${inner}</strong>`) : inner;
  });
  hbs.registerHelper('t', (key: string, options: Handlebars.HelperOptions) => {
    const words = catalogs.get(root(options).locale)?.get(key);
    if (!words) throw new Error(`no words for "${key}" in ${root(options).locale}`);
    const out = typeof words === 'string' ? words : words(options.data.root, { data: options.data });
    return escape ? new hbs.SafeString(out) : out;
  });
  const compiled = (words: string): Compiled | string => (words.includes('{{') ? hbs.compile(words, { noEscape: !escape, strict: false }) : words);
  for (const locale of EMAIL_LOCALES) {
    catalogs.set(locale, new Map(Object.entries(readCatalog(locale)).map(([key, words]) => [key, compiled(words)])));
  }
  for (const partial of PARTIALS) {
    const source = fs.readFileSync(path.join(TEMPLATE_DIR, 'email', 'partials', `${partial}.${kind}.hbs`), 'utf8');
    hbs.registerPartial(partial, hbs.compile(source, { noEscape: !escape, strict: false }));
  }
  const read = (part: string): string => fs.readFileSync(path.join(TEMPLATE_DIR, 'email', `${part}.hbs`), 'utf8');
  return { hbs, layout: (part) => hbs.compile(read(part), { noEscape: !escape }) };
}

export class EmailRenderer {
  private readonly subject: Compiled;
  private readonly html: Compiled;
  private readonly text: Compiled;
  private readonly catalogs = new Map(EMAIL_LOCALES.map((l) => [l, readCatalog(l)]));

  constructor(private readonly options: RenderOptions) {
    const html = environment('html', options.timeZone);
    const text = environment('text', options.timeZone);
    this.subject = text.layout('subject');
    this.html = html.layout('html');
    this.text = text.layout('text');
  }

  /**
   * Renders every kind of email once in every language, so that Handlebars compiles the layouts,
   * the partials and the words now (it compiles each on its first use: a tenth of the worker's
   * CPU in its first seconds of work). A kind that cannot render even these facts fails start-up:
   * a defect of the templates, found before any email is due.
   */
  warmUp(): void {
    const person = (id: string): Person => ({ id, name: id, email: `${id}@example.com`, locale: null });
    const card = { cardId: 'warm-up', cardType: 'warm-up', serialNumber: 'warm-up', holder: person('holder'), status: 'ACTIVE', validTo: 0 };
    for (const locale of EMAIL_LOCALES) {
      for (const template of EMAIL_TEMPLATES) {
        const event: ApprovalEvent = {
          eventId: 'warm-up', type: 'OPENED', requestId: 'warm-up', operation: 'REQUEST_MULTIPLE_CARDS', status: 'PENDING', occurredAt: 0,
          requester: person('requester'), cards: [card, card], description: 'warm-up', approvers: [person('approver')], requestedAt: 0, dueAt: 0,
          decision: null, refusalCode: null, message: null, progress: null, cardResults: [{ cardIndex: 0, outcome: 'APPROVED', reason: null }],
        };
        this.render(template, event, { ...person('recipient'), locale }, { expiresAt: 0 });
      }
    }
  }

  /** The recipient's language, else the operation's, else the worker's. */
  localeFor(recipient: Person, operation: Operation | null): string {
    return resolveLocale([recipient.locale, operation ? this.options.operationLocales[operation] : undefined, this.options.defaultLocale], resolveLocale([this.options.defaultLocale]));
  }

  /** Renders one email; one that can never render (its data cannot be shown) throws a permanent EMAIL_UNRENDERABLE. */
  render(template: EmailTemplate, event: ApprovalEvent, recipient: Person, facts: EmailFacts = {}): RenderedEmail {
    try {
      return this.renderWith(template, event, recipient, facts);
    } catch (error) {
      throw new AppError('EMAIL_UNRENDERABLE', `the ${template} email cannot be rendered: ${errorMessage(error)}`, false, { eventId: event.eventId, requestId: event.requestId }, { cause: error });
    }
  }

  private renderWith(template: EmailTemplate, event: ApprovalEvent, recipient: Person, facts: EmailFacts): RenderedEmail {
    if (!EMAIL_TEMPLATES.includes(template)) throw new Error(`unknown email template ${template}`);
    const locale = this.localeFor(recipient, event.operation);
    const words = this.catalogs.get(locale)!;
    // Events stored before a field was added (an email still queued across an upgrade) lack it.
    const cardResults = event.cardResults ?? [];
    const context = {
      ...event,
      kind: template,
      locale,
      recipient,
      forApprover: FOR_APPROVERS.includes(template),
      // Whoever decides needs to know by when; the requester is told when it ends.
      expiresAt: FOR_APPROVERS.includes(template) ? (facts.expiresAt ?? null) : null,
      actions: FOR_APPROVERS.includes(template) ? this.options.links?.linksFor(event.eventId, event.requestId, recipient, Date.now()) : undefined,
      showReason: (template === 'request-rejected' || template === 'request-withdrawn') && Boolean(event.decision?.reason),
      reminderNumber: reminderNumber(event),
      operationLabel: event.operation ? words[`operation.${event.operation}`] : 'Card operation',
      multipleCards: event.cards.length > 1,
      cards: event.cards.map((card) => ({ ...card, ...cardStatus(card.status, words, locale) })),
      cardOutcomes: cardResults.map((r) => ({ ...r, number: r.cardIndex + 1, card: event.cards[r.cardIndex], approved: r.outcome === 'APPROVED', outcomeLabel: words[`outcome.${r.outcome}`] })),
      approvedCount: cardResults.filter((r) => r.outcome === 'APPROVED').length,
      link: `${this.options.operatorUrl.replace(/\/$/, '')}/${encodeURIComponent(event.requestId)}`,
    };
    // Names are single-line, but may hold runs of spaces the subject line would close up.
    const subjectParts = { operation: context.operationLabel ?? '', name: oneLine(event.requester?.name ?? '') };
    const subject = fitSubject((parts) => oneLine(this.subject({ ...context, subjectOperation: parts.operation, subjectName: parts.name })), subjectParts);
    return {
      subject: subject.slice(0, 250),
      html: this.html(context),
      text: blocks(this.text(context)),
      locale,
    };
  }
}

/**
 * A card's status as an email shows it: upstream's text (the schema allows any), known ones in the
 * language's words (`cardStatus.<STATUS>`), as a table cell shows them and in lower case inside
 * the plain text's sentence; any other exactly as sent.
 */
export function cardStatus(status: string | null | undefined, words: Record<string, string>, locale: string): { statusLabel: string | null; statusInText: string | null } {
  if (!status) return { statusLabel: null, statusInText: null };
  const known = words[`cardStatus.${status.toUpperCase()}`];
  return known === undefined ? { statusLabel: status, statusInText: status } : { statusLabel: known, statusInText: known.toLocaleLowerCase(locale) };
}

/**
 * The plain-text part as blocks (greeting, intro, each section, the actions, the footer) with one
 * blank line between them, however many the template's optional parts leave.
 */
function blocks(text: string): string {
  return `${text.replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n').trim()}\n`;
}

/** Control characters (CR/LF above all) would end the Subject header; they become spaces. */
function oneLine(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim();
}
