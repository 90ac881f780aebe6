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

export interface EmailActionDeps {
  links: DecisionLinks;
  uses: Pick<EmailLinkUses, 'take' | 'giveBack' | 'used'>;
  queries: Pick<ApprovalQueries, 'get'>;
  publishDecisions(decisions: ApprovalDecision[]): Promise<void>;
  /** Where the approvers' page shows a request. */
  pageUrl: string;
}

export const EMAIL_ACTIONS_PATH = `/${EMAIL_ACTIONS_SEGMENT}/`;

const WORDS: Record<DecisionLink['decision'], { verb: string; sent: string }> = {
  APPROVED: { verb: 'Approve', sent: 'Approval sent' },
  POSTPONED: { verb: 'Postpone', sent: 'Postponement sent' },
  REJECTED: { verb: 'Reject', sent: 'Rejection sent' },
};

const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(status: number, title: string, body: string): { status: number; html: string } {
  const html = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title></head>
<body style="margin:0;background:#eef1f4;font-family:Arial,Helvetica,sans-serif;color:#1f2933;">
<main style="max-width:560px;margin:32px auto;background:#fff;border:1px solid #d9dee3;border-radius:6px;padding:24px;">
<h1 style="font-size:20px;margin:0 0 16px;color:#1f4e79;">${escapeHtml(title)}</h1>${body}</main></body></html>`;
  return { status, html };
}

const sorry = (status: number, title: string, text: string) => page(status, title, `<p>${escapeHtml(text)}</p><p>Nothing was changed.</p>`);

/** What the access log hears of a link. */
interface LinkSeen {
  request(requestId: string): void;
  approver(approverId: string): void;
}

/** A link whose person the request no longer names: it decides for nobody, and as nobody else. */
const NO_LONGER_ASKED: Refusal = { code: 'NOT_AN_APPROVER', message: "This link was sent to someone who is no longer one of the request's approvers (their part may have been reassigned)." };

/**
 * The page for `token` (GET: the confirmation; POST: the decision, with the form's `reason`).
 * Every refusal the worker would give for this person now is given before a confirmation is offered.
 * `seen` hears of the request a link that verifies and has not expired is about, and then of the
 * person it was sent to, once found among those the request names (the access log names them).
 */
export async function emailAction(deps: EmailActionDeps, token: string, confirm: { reason: string | null } | undefined, seen?: LinkSeen): Promise<{ status: number; html: string }> {
  const link = deps.links.read(token, Date.now());
  if (typeof link !== 'string') seen?.request(link.requestId);
  if (link === 'INVALID') return sorry(400, 'This link is not valid', 'The link is incomplete or was not made by this service. Open the request on the approvals page instead.');
  if (link === 'EXPIRED') return sorry(410, 'This link has expired', `Links in approval emails work for a limited time. Open the request on the approvals page to decide.`);
  if (await deps.uses.used(link.linkId)) return sorry(409, 'This link has already been used', 'The links in an approval email decide once, and one of them already has.');
  const found = await deps.queries.get(link.requestId);
  if (!found) return sorry(404, 'Request not found', `There is no request ${link.requestId}.`);
  const { record, expiresAt } = found;
  // Links go only to approvers the record lists (delegates get no emails): the person is one of them unless their part was reassigned.
  const approver = link.recipientAmong(approversNamedBy(record));
  if (approver) seen?.approver(approver.id);
  const words = WORDS[link.decision];
  const open = `<p><a href="${escapeHtml(`${deps.pageUrl.replace(/\/$/, '')}/${encodeURIComponent(record.requestId)}`)}">Open the request on the approvals page</a></p>`;
  if (record.status !== 'PENDING') return page(409, `The request is already ${record.status.toLowerCase().replace(/_/g, ' ')}`, `<p>It takes no more decisions.</p><p>Nothing was changed.</p>${open}`);
  const refused = (refusal: Refusal) => page(REFUSAL_STATUS[refusal.code], 'This decision cannot be made', `<p>${escapeHtml(refusal.message)}</p><p>Nothing was changed.</p>${open}`);
  if (!approver) return refused(NO_LONGER_ASKED);
  const refusal = approverRefusal(record, approver, [], Date.now());
  if (refusal) return refused(refusal);

  const identity = { id: approver.id, name: approver.name, email: approver.email, roles: ['approver' as const] };
  const summary = `<table style="font-size:14px;line-height:20px;margin:0 0 16px;">
<tr><th align="left" style="padding:4px 12px 4px 0;color:#616e7c;font-weight:normal;">Request</th><td>${escapeHtml(record.requestId)}</td></tr>
<tr><th align="left" style="padding:4px 12px 4px 0;color:#616e7c;font-weight:normal;">Operation</th><td>${escapeHtml(record.operation)}</td></tr>
<tr><th align="left" style="padding:4px 12px 4px 0;color:#616e7c;font-weight:normal;">Requester</th><td>${escapeHtml(record.requester.name)}</td></tr>
<tr><th align="left" style="padding:4px 12px 4px 0;color:#616e7c;font-weight:normal;">You</th><td>${escapeHtml(approver.name)}</td></tr></table>`;
  const confirmation = (status: number, problem = '') =>
    page(
      status,
      `${words.verb} this request?`,
      `${summary}${problem ? `<p style="color:#b83227;">${escapeHtml(problem)}</p>` : ''}<form method="post">
${link.decision === 'REJECTED' ? '<p><label>Reason (required)<br><textarea name="reason" rows="3" cols="50" required></textarea></label></p>' : ''}
<p><button type="submit" style="background:#1f4e79;color:#fff;border:0;border-radius:4px;padding:12px 20px;font-size:15px;font-weight:bold;">Confirm: ${words.verb}</button></p></form>
<p style="font-size:12px;color:#616e7c;">The links in this email decide once, and work until ${escapeHtml(new Date(link.expiresAt).toISOString().slice(0, 16).replace('T', ' '))} UTC.</p>${open}`,
    );
  if (!confirm) return confirmation(200);

  const reason = confirm.reason?.trim() || null;
  // A form in another encoding than UTF-8 decodes with replacement characters: not the text typed.
  if (reason?.includes('\uFFFD')) return confirmation(400, 'The reason is not valid text.');
  if (link.decision === 'REJECTED' && !reason) return confirmation(400, 'A rejection needs a reason.');
  const answer = decisionBy(record, identity, { decision: link.decision, reason, cardOutcomes: [] }, { standIns: [], expiresAt, now: Date.now() });
  if ('refusal' in answer) return sorry(REFUSAL_STATUS[answer.refusal.code], 'This decision cannot be made', answer.refusal.message);
  const decision: ApprovalDecision = answer.decision;
  if (!(await deps.uses.take(link.linkId, record.requestId, decision.decisionId))) return sorry(409, 'This link has already been used', 'The links in an approval email decide once, and one of them already has.');
  try {
    await deps.publishDecisions([decision]);
  } catch (error) {
    await deps.uses.giveBack(link.linkId);
    throw error;
  }
  // Sent, not applied: the worker still applies every rule when the decision arrives.
  return page(200, words.sent, `<p>Your decision was sent (${escapeHtml(decision.decisionId)}); the request's history shows it once it has been applied. The requester is told when the request ends.</p>${open}`);
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
  const errorHandler = (error: { statusCode?: number; status?: number }, _request: FastifyRequest, reply: FastifyReply) =>
    reply.send(answerWith(reply, (error.statusCode ?? error.status) === 413 ? sorry(413, 'This form is too large', 'the form is larger than 16 KiB') : sorry(400, 'This form cannot be read', 'Send it again from the page.')));
  api.route({
    method: 'GET',
    url: `/${EMAIL_ACTIONS_SEGMENT}/:token`,
    schema: { operationId: 'showEmailAction', tags: ['Email actions'], security: [], summary: 'What a one-click link would do, with a form to confirm it; decides nothing', params: TokenPath, response: pages },
    handler: async (request, reply) => answerWith(reply, await emailAction(deps(), request.params.token, undefined, noteLink(request))),
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
    handler: async (request, reply) => answerWith(reply, await emailAction(deps(), request.params.token, { reason: request.body.reason ?? null }, noteLink(request))),
  });
}
