// One-click decisions from an approver email: GET /email-actions/<token> shows what the link would
// do and asks to confirm (a GET never decides: mail scanners follow links); POST confirms. The
// decision is published exactly as the API publishes one, as the person the signed link was sent
// to (found among the people the request's record names: the link names nobody), and every rule
// the API and the worker apply still holds. A link decides once.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApprovalQueries } from '../../data-access/approval-queries';
import type { EmailLinkUses } from '../../data-access/email-link-uses';
import { EMAIL_ACTIONS_SEGMENT, type DecisionLinks, type DecisionLink } from '../../adapters/email/decision-links';
import type { ApprovalDecision } from '../../domain/card-operation';
import { approverRefusal, approversNamedBy, type Refusal } from '../../domain/approval-policy';
import { decisionBy } from '../../domain/callers';
import { accessed, actedAs } from './access-log';
import { TokenPath } from './api-schemas';
import { REFUSAL_STATUS } from './http-errors';
import { html } from './routes';
import type { OneClickPages, PageWords } from '../../adapters/web/one-click-pages';

export interface EmailActionDeps {
  links: DecisionLinks;
  uses: Pick<EmailLinkUses, 'take' | 'giveBack' | 'used'>;
  queries: Pick<ApprovalQueries, 'get'>;
  publishDecisions(decisions: ApprovalDecision[]): Promise<void>;
  /** Where the approvers' page shows a request. */
  pageUrl: string;
  pages: OneClickPages;
}

export const EMAIL_ACTIONS_PATH = `/${EMAIL_ACTIONS_SEGMENT}/`;

const BUTTON: Record<DecisionLink['decision'], string> = { APPROVED: 'button.approve', POSTPONED: 'button.postpone', REJECTED: 'button.reject' };

/** What the access log hears of a link. */
interface LinkSeen {
  request(requestId: string): void;
  approver(approverId: string): void;
}

/** A link whose person the request no longer names: it decides for nobody, and as nobody else. */
const NO_LONGER_ASKED: Refusal = { code: 'NOT_AN_APPROVER', message: "This link was sent to someone who is no longer one of the request's approvers (their part may have been reassigned)." };

/**
 * The page for `token` (GET: the confirmation; POST: the decision, with the form's `reason`), in
 * the language of the approver the link was sent to (else the browser's, `acceptLanguage`).
 * Every refusal the worker would give for this person now is given before a confirmation is
 * offered; every page that ends there links to the request, and says who decided it if someone did.
 * `seen` hears of the request a link that verifies and has not expired is about, and then of the
 * person it was sent to, once found among those the request names (the access log names them).
 */
export async function emailAction(deps: EmailActionDeps, token: string, confirm: { reason: string | null } | undefined, seen?: LinkSeen, acceptLanguage?: string): Promise<{ status: number; html: string }> {
  const { pages } = deps;
  const link = deps.links.read(token, Date.now());
  const toPage = (words: PageWords) => ({ href: deps.pageUrl, text: words.t('oneClick.openPage') });
  if (typeof link === 'string') {
    const words = pages.wordsFor(undefined, null, acceptLanguage);
    const kind = link === 'INVALID' ? 'invalid' : 'expired';
    return pages.render(words, { status: link === 'INVALID' ? 400 : 410, title: words.t(`oneClick.${kind}.title`), paragraphs: [words.t(`oneClick.${kind}.text`), words.t('oneClick.nothingChanged')], link: toPage(words) });
  }
  seen?.request(link.requestId);
  const found = await deps.queries.get(link.requestId);
  if (!found) {
    const words = pages.wordsFor(undefined, null, acceptLanguage);
    return pages.render(words, { status: 404, title: words.t('oneClick.notFound.title'), paragraphs: [words.t('oneClick.notFound.text'), words.t('oneClick.nothingChanged')], link: toPage(words) });
  }
  const { record, history, expiresAt } = found;
  // Links go only to approvers the record lists (delegates get no emails): the person is one of them unless their part was reassigned.
  const named = approversNamedBy(record);
  const approver = link.recipientAmong(named);
  if (approver) seen?.approver(approver.id);
  // Their language, as their emails are written in it.
  const words = pages.wordsFor(approver && named.find((p) => p.id === approver.id), record.operation, acceptLanguage);
  const { t } = words;
  const toRequest = { href: `${deps.pageUrl.replace(/\/$/, '')}/${encodeURIComponent(record.requestId)}`, text: t('oneClick.open', { requestId: record.requestId }) };
  // Who ended the request, and when, once someone did (a timer or a later request names nobody).
  const decider = [...history].reverse().find((h) => h.statusAfter === record.status && h.actor);
  const decidedBy = record.status !== 'PENDING' && decider?.actor ? [t('oneClick.decidedBy', { name: decider.actor.name, time: words.time(Date.parse(decider.occurredAt)) })] : [];
  const deadEnd = (status: number, title: string, text: string) => pages.render(words, { status, title, paragraphs: [text, ...decidedBy, t('oneClick.nothingChanged')], link: toRequest });
  if (await deps.uses.used(link.linkId)) return deadEnd(409, t('oneClick.used.title'), t('oneClick.used.text'));
  if (record.status !== 'PENDING') return deadEnd(409, t('oneClick.closed.title'), t('oneClick.closed.text', { status: t(`status.${record.status}`) }));
  const refused = (refusal: Refusal) => deadEnd(REFUSAL_STATUS[refusal.code], t('oneClick.refused.title'), refusal === NO_LONGER_ASKED ? t('oneClick.noLongerAsked') : t(`refusal.${refusal.code}`));
  if (!approver) return refused(NO_LONGER_ASKED);
  const refusal = approverRefusal(record, approver, [], Date.now());
  if (refusal) return refused(refusal);

  const identity = { id: approver.id, name: approver.name, email: approver.email, roles: ['approver' as const] };
  const confirmation = (status: number, problem?: string) =>
    pages.render(words, {
      status,
      title: t(`oneClick.confirm.${link.decision}`),
      request: record,
      form: {
        decision: link.decision,
        effect: t(`oneClick.effect.${link.decision}`),
        you: t('oneClick.you', { name: approver.name }),
        button: t(BUTTON[link.decision]),
        reason: link.decision === 'REJECTED',
        problem,
        expiry: t('oneClick.expiry', { time: words.time(link.expiresAt) }),
      },
      link: toRequest,
    });
  if (!confirm) return confirmation(200);

  const reason = confirm.reason?.trim() || null;
  // A form in another encoding than UTF-8 decodes with replacement characters: not the text typed.
  if (reason?.includes('\uFFFD')) return confirmation(400, t('oneClick.reasonInvalid'));
  if (link.decision === 'REJECTED' && !reason) return confirmation(400, t('refusal.REASON_REQUIRED'));
  const answer = decisionBy(record, identity, { decision: link.decision, reason, cardOutcomes: [] }, { standIns: [], expiresAt, now: Date.now() });
  if ('refusal' in answer) return answer.refusal.code === 'INVALID_CONTENT' ? confirmation(400, t('oneClick.reasonInvalid')) : refused(answer.refusal);
  const decision: ApprovalDecision = answer.decision;
  if (!(await deps.uses.take(link.linkId, record.requestId, decision.decisionId))) return deadEnd(409, t('oneClick.used.title'), t('oneClick.used.text'));
  try {
    await deps.publishDecisions([decision]);
  } catch (error) {
    await deps.uses.giveBack(link.linkId);
    throw error;
  }
  // Sent, not applied: the worker still applies every rule when the decision arrives.
  return pages.render(words, { status: 200, title: t(`oneClick.sent.${link.decision}`), paragraphs: [t(`oneClick.sentText.${link.decision}`, { requestId: record.requestId, reason: reason ?? '' })], link: toRequest });
}

const HEADERS = {
  // A page of its own: no script, forms only to this origin, nothing cached or sent on as a referrer.
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
};

/** GET and POST /email-actions/{token}, on `app`. */
export function registerEmailActions(app: FastifyInstance, deps: () => EmailActionDeps): void {
  const pages = { 200: html('the confirmation page, or the decision sent'), 400: html('the link is not valid, or the reason is missing or not valid text'), 403: html('this person may not decide, or the request no longer names the person the link was sent to'), 404: html('no such request'), 409: html('the link was used, or the request takes no more decisions'), 410: html('the link has expired'), 413: html('the form is too large') };
  const api = app.withTypeProvider<ZodTypeProvider>();
  /** The link's request and approver (by id), for the access log. */
  const noteLink = (request: FastifyRequest): LinkSeen => ({
    request: (requestId) => accessed(request, [requestId]),
    approver: (approverId) => actedAs(request, approverId, ['approver']),
  });
  /** Sets the page's status and headers; the page is the answer. */
  const answerWith = (reply: FastifyReply, answer: { status: number; html: string }): string => {
    reply.code(answer.status).headers(HEADERS).type('text/html; charset=utf-8');
    return answer.html;
  };
  // A form too large (or otherwise unreadable) is a page too, not a JSON error.
  const errorHandler = (error: { statusCode?: number; status?: number }, request: FastifyRequest, reply: FastifyReply) => {
    const { pages, pageUrl } = deps();
    const words = pages.wordsFor(undefined, null, request.headers['accept-language']);
    const kind = (error.statusCode ?? error.status) === 413 ? 'tooLarge' : 'unreadable';
    const page = pages.render(words, { status: kind === 'tooLarge' ? 413 : 400, title: words.t(`oneClick.${kind}.title`), paragraphs: [words.t(`oneClick.${kind}.text`), words.t('oneClick.nothingChanged')], link: { href: pageUrl, text: words.t('oneClick.openPage') } });
    return reply.send(answerWith(reply, page));
  };
  api.route({
    method: 'GET',
    url: `/${EMAIL_ACTIONS_SEGMENT}/:token`,
    schema: { operationId: 'showEmailAction', tags: ['Email actions'], security: [], summary: 'What a one-click link would do, with a form to confirm it; decides nothing', params: TokenPath, response: pages },
    handler: async (request, reply) => answerWith(reply, await emailAction(deps(), request.params.token, undefined, noteLink(request), request.headers['accept-language'])),
  });
  api.route({
    method: 'POST',
    url: `/${EMAIL_ACTIONS_SEGMENT}/:token`,
    errorHandler,
    schema: {
      consumes: ['application/x-www-form-urlencoded'],
      operationId: 'confirmEmailAction',
      tags: ['Email actions'],
      security: [],
      summary: 'Confirms a one-click link: publishes the decision as the approver it was sent to (reason required to reject)',
      description: 'Refused at once, on a page with the same status, as the API refuses a decision (403 for the requester, a holder, someone not asked, or a person the request no longer names; 409 for a request that has ended or is past its expiry, or a second vote).',
      params: TokenPath,
      body: z.strictObject({ reason: z.string().optional() }),
      response: pages,
    },
    handler: async (request, reply) => answerWith(reply, await emailAction(deps(), request.params.token, { reason: request.body.reason ?? null }, noteLink(request), request.headers['accept-language'])),
  });
}
