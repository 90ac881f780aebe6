// The pages a one-click email link opens (templates/web/one-click.hbs), in the approver's
// language and with the words of templates/locales, times in the emails' zone (EMAIL_TIME_ZONE),
// named. They show what the email already showed to whoever holds it: the request, its cards and
// holders, and its requester; nothing from the link itself.
import fs from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import type { ApprovalRecord } from '../../domain/approval';
import type { Operation, Person } from '../../domain/card-operation';
import { EMAIL_LOCALES, EmailRenderer, cardStatus, dateFormatter, localeAsked, readCatalog, timeFormatter, type RenderOptions } from '../email/render-email';

const TEMPLATE = path.resolve(__dirname, '..', '..', '..', 'templates', 'web', 'one-click.hbs');

export interface OneClickView {
  status: number;
  title: string;
  paragraphs?: string[];
  /** The request, as the approver email showed it. */
  request?: ApprovalRecord;
  form?: { decision: string; effect: string; you?: string; button: string; reason: boolean; problem?: string; expiry?: string };
  link?: { href: string; text: string };
}

/** A page's words in one language: `t(key, { name })` fills the key's {{name}} blanks; `time` and `date` write them as the emails do. */
export interface PageWords {
  locale: string;
  t(key: string, values?: Record<string, string | number>): string;
  time(ms: number): string;
  /** A date, as a card's validity is written in the emails. */
  date(ms: number): string;
}

export class OneClickPages {
  private readonly template: HandlebarsTemplateDelegate;
  private readonly catalogs = new Map(EMAIL_LOCALES.map((l) => [l, readCatalog(l)]));
  private readonly byLocale = new Map<string, PageWords>();
  private readonly renderer: EmailRenderer;
  private readonly timeZone: string;
  private readonly defaultLocale: string;

  constructor(options: Pick<RenderOptions, 'defaultLocale' | 'operationLocales' | 'timeZone'>) {
    // The emails' own rule for a person's language.
    this.renderer = new EmailRenderer({ ...options, operatorUrl: '' });
    this.timeZone = options.timeZone;
    this.defaultLocale = options.defaultLocale;
    const hbs = Handlebars.create();
    hbs.registerHelper('t', (key: string, helper: Handlebars.HelperOptions) => this.words((helper.data.root as { locale: string }).locale).t(key));
    this.template = hbs.compile(fs.readFileSync(TEMPLATE, 'utf8'), { strict: false });
  }

  /** The words of the approver's language (as their emails are written), else the browser's, else the worker's. */
  wordsFor(person: Person | undefined, operation: Operation | null, acceptLanguage: string | undefined): PageWords {
    if (person) return this.words(this.renderer.localeFor(person, operation));
    return this.words(localeAsked(acceptLanguage, this.defaultLocale));
  }

  /** A language's words, built once (an Intl formatter costs far more to make than to use). */
  words(locale: string): PageWords {
    const known = this.catalogs.has(locale) ? locale : 'en';
    let words = this.byLocale.get(known);
    if (!words) {
      const catalog = this.catalogs.get(known)!;
      words = {
        locale: known,
        t: (key, values = {}) => {
          const text = catalog[key];
          if (text === undefined) throw new Error(`no words for "${key}" in ${known}`);
          return text.replace(/\{\{(\w+)\}\}/g, (_, name: string) => String(values[name] ?? ''));
        },
        time: timeFormatter(known, this.timeZone),
        date: dateFormatter(known),
      };
      this.byLocale.set(known, words);
    }
    return words;
  }

  render(words: PageWords, view: OneClickView): { status: number; html: string } {
    const { t, locale } = words;
    const catalog = this.catalogs.get(locale)!;
    const request = view.request && {
      ...view.request,
      operationLabel: t(`operation.${view.request.operation}`),
      requestedAt: words.time(view.request.requestedAt),
      dueAt: view.request.dueAt === null ? null : words.time(view.request.dueAt),
      // A card's status as its email shows it.
      cards: view.request.cards.map((c) => ({ ...c, status: cardStatus(c.status, catalog, locale).statusLabel, validTo: c.validTo == null ? null : words.date(c.validTo) })),
    };
    return { status: view.status, html: this.template({ ...view, request, locale }) };
  }
}
