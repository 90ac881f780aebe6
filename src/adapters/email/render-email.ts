// Renders the emails from the Handlebars templates in templates/, compiled once at start-up.
// HTML escapes all message content; subjects are flattened to one line so nothing in a name,
// reason or description can add a header.
import fs from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { EMAIL_TEMPLATES, type ApprovalEvent, type EmailTemplate } from '../../domain/approval';
import type { Operation, Person } from '../../domain/card-operation';
import { AppError, errorMessage } from '../../libraries/errors';

const TEMPLATE_DIR = path.resolve(__dirname, '..', '..', '..', 'templates');
const PARTIALS = ['request-information', 'card-information', 'requester-information', 'card-results'];

const OPERATION_LABELS: Record<Operation, string> = {
  REQUEST_CARD: 'Request card',
  DEACTIVATE_CARD: 'Deactivate card',
  REACTIVATE_CARD: 'Reactivate card',
  LOCK_CARD: 'Lock card',
  REQUEST_MULTIPLE_CARDS: 'Request multiple cards',
};

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

type Compiled = (context: unknown) => string;

const formatTime = (value: unknown): string =>
  typeof value === 'number' ? `${new Date(value).toISOString().slice(0, 16).replace('T', ' ')} UTC` : '';
const formatDate = (value: unknown): string => (typeof value === 'number' ? new Date(value).toISOString().slice(0, 10) : '');

function environment(escape: boolean, kind: 'html' | 'text'): typeof Handlebars {
  const hbs = Handlebars.create();
  hbs.registerHelper('formatTime', formatTime);
  hbs.registerHelper('formatDate', formatDate);
  for (const partial of PARTIALS) {
    const source = fs.readFileSync(path.join(TEMPLATE_DIR, 'partials', `${partial}.${kind}.hbs`), 'utf8');
    hbs.registerPartial(partial, hbs.compile(source, { noEscape: !escape, strict: false }));
  }
  return hbs;
}

export class EmailRenderer {
  private readonly compiled = new Map<EmailTemplate, { subject: Compiled; html: Compiled; text: Compiled }>();

  constructor(private readonly operatorUrl: string) {
    const html = environment(true, 'html');
    const text = environment(false, 'text');
    const read = (template: string, part: string): string => fs.readFileSync(path.join(TEMPLATE_DIR, template, `${part}.hbs`), 'utf8');
    for (const template of EMAIL_TEMPLATES) {
      this.compiled.set(template, {
        subject: text.compile(read(template, 'subject'), { noEscape: true }),
        html: html.compile(read(template, 'html')),
        text: text.compile(read(template, 'text'), { noEscape: true }),
      });
    }
  }

  /** Renders one email; one that can never render (its data cannot be shown) throws a permanent EMAIL_UNRENDERABLE. */
  render(template: EmailTemplate, event: ApprovalEvent, recipient: Person): RenderedEmail {
    try {
      return this.renderWith(template, event, recipient);
    } catch (error) {
      throw new AppError('EMAIL_UNRENDERABLE', `the ${template} email cannot be rendered: ${errorMessage(error)}`, false, { eventId: event.eventId, requestId: event.requestId }, { cause: error });
    }
  }

  private renderWith(template: EmailTemplate, event: ApprovalEvent, recipient: Person): RenderedEmail {
    const compiled = this.compiled.get(template);
    if (!compiled) throw new Error(`unknown email template ${template}`);
    const context = {
      ...event,
      recipient,
      operationLabel: event.operation ? OPERATION_LABELS[event.operation] : 'Card operation',
      multipleCards: event.cards.length > 1,
      cardOutcomes: event.cardResults.map((r) => ({ ...r, number: r.cardIndex + 1, card: event.cards[r.cardIndex] })),
      approvedCount: event.cardResults.filter((r) => r.outcome === 'APPROVED').length,
      link: `${this.operatorUrl.replace(/\/$/, '')}/${encodeURIComponent(event.requestId)}`,
    };
    return {
      subject: oneLine(compiled.subject(context)).slice(0, 250),
      html: compiled.html(context),
      text: compiled.text(context),
    };
  }
}

/** Control characters (CR/LF above all) would end the Subject header; they become spaces. */
function oneLine(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').replace(/\s+/g, ' ').trim();
}
