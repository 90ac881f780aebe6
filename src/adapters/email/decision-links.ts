// One-click decision links in approver emails: signed, expiring, bound to one approver and one
// request, and single-use (email_link_uses). A link only opens a confirmation page; the decision is
// made by confirming it there, so a mail scanner that follows links decides nothing.
import { createHash } from 'node:crypto';
import type { Person } from '../../domain/card-operation';
import type { Config } from '../../libraries/config';
import { signLink, verifyLink } from '../../libraries/signed-links';
import { TIMESTAMP_RANGE, idProblem, personProblems } from '../../domain/validate-message';

export const LINK_DECISIONS = ['APPROVED', 'POSTPONED', 'REJECTED'] as const;
export type LinkDecision = (typeof LINK_DECISIONS)[number];

/** What a link carries: whose decision on which request, until when. */
export interface DecisionLink {
  /** Stable per email (recipient and event), shared by its three links: one email decides once, and a resent email carries the same links. */
  linkId: string;
  requestId: string;
  approver: Pick<Person, 'id' | 'name' | 'email'>;
  decision: LinkDecision;
  expiresAt: number;
}

export type LinkProblem = 'INVALID' | 'EXPIRED';

export class DecisionLinks {
  constructor(private readonly settings: { secrets: readonly string[]; ttlMs: number; baseUrl: string }) {}

  /** The three links for `recipient` in the email of `eventId` about `requestId`, valid for the configured time from `now`. */
  linksFor(eventId: string, requestId: string, recipient: Person, now: number): Record<LinkDecision, string> {
    const base = this.settings.baseUrl.replace(/\/$/, '');
    const one = (decision: LinkDecision): string => {
      const link: DecisionLink = {
        linkId: createHash('sha256').update(`${eventId}\u0000${recipient.email.toLowerCase()}`).digest('base64url').slice(0, 32),
        requestId,
        approver: { id: recipient.id, name: recipient.name, email: recipient.email },
        decision,
        expiresAt: now + this.settings.ttlMs,
      };
      return `${base}/${signLink(link, this.settings.secrets[0]!)}`; // the first key signs
    };
    return { APPROVED: one('APPROVED'), POSTPONED: one('POSTPONED'), REJECTED: one('REJECTED') };
  }

  /** The link a token stands for, or why it stands for none. */
  read(token: string, now: number): DecisionLink | LinkProblem {
    const link = verifyLink<DecisionLink>(token, this.settings.secrets);
    const person = link?.approver;
    const shaped =
      link &&
      typeof link.linkId === 'string' &&
      typeof link.requestId === 'string' &&
      idProblem('requestId', link.requestId) === undefined &&
      Number.isSafeInteger(link.expiresAt) &&
      link.expiresAt >= TIMESTAMP_RANGE.min &&
      link.expiresAt <= TIMESTAMP_RANGE.max &&
      LINK_DECISIONS.includes(link.decision) &&
      typeof person?.id === 'string' &&
      typeof person.name === 'string' &&
      typeof person.email === 'string' &&
      personProblems('approver', { ...person, locale: null }).length === 0;
    if (!shaped) return 'INVALID';
    return link.expiresAt <= now ? 'EXPIRED' : link;
  }
}

/** Where links point: beside the approvers' page (OPERATOR_URL without its /approvals). */
export const EMAIL_ACTIONS_SEGMENT = 'email-actions';

/** The links the configuration asks for, or none (EMAIL_LINK_SECRET unset). */
export function decisionLinksFor(config: Pick<Config, 'emailLinks' | 'operatorUrl'>): DecisionLinks | undefined {
  if (!config.emailLinks) return undefined;
  const baseUrl = `${config.operatorUrl.replace(/\/+$/, '').replace(/\/approvals$/, '')}/${EMAIL_ACTIONS_SEGMENT}`;
  return new DecisionLinks({ ...config.emailLinks, baseUrl });
}
