// The approvers' page, rendered once per shipped language from templates/web/approver-page.hbs
// with the words of templates/locales (the emails' files): served whole in the language the
// browser asks for, and carrying every language's words for the page to switch without a reload.
import fs from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { STATUSES } from '../../domain/card-operation';
import { EMAIL_LOCALES, localeAsked, readCatalog } from '../email/render-email';

const TEMPLATE = path.resolve(__dirname, '..', '..', '..', 'templates', 'web', 'approver-page.hbs');
/** The keys the page's script looks up: its own words, and the product's terms it shows. */
const PAGE_KEYS = /^(page|status|operation|history|refusal|policy|vote|role|actingAs|cardStatus|outcome|stageName)\.|^card\.new$/;

export class ApproverPage {
  private readonly pages: Map<string, string>;

  constructor() {
    const catalogs = new Map(EMAIL_LOCALES.map((l) => [l, readCatalog(l)]));
    const words = Object.fromEntries([...catalogs].map(([l, c]) => [l, Object.fromEntries(Object.entries(c).filter(([key]) => PAGE_KEYS.test(key)))]));
    // JSON inside a script element: "<" escaped, so no value can end the element.
    const embedded = JSON.stringify(words).replace(/</g, '\\u003c');
    const hbs = Handlebars.create();
    hbs.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).join(''));
    hbs.registerHelper('t', (key: string, options: Handlebars.HelperOptions) => {
      const text = catalogs.get((options.data.root as { locale: string }).locale)?.[key];
      if (text === undefined) throw new Error(`no words for "${key}"`);
      return text;
    });
    const template = hbs.compile(fs.readFileSync(TEMPLATE, 'utf8'), { strict: true });
    this.pages = new Map(EMAIL_LOCALES.map((locale) => [locale, template({ locale, statuses: STATUSES, words: embedded })]));
  }

  /** The page in the first language of an Accept-Language header that is shipped, else `fallback`'s. */
  html(acceptLanguage: string | undefined, fallback: string): string {
    return this.pages.get(localeAsked(acceptLanguage, fallback))!;
  }
}
