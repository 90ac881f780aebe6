// One-click decision links in approver emails: signed, expiring, bound to one approver and one
// request, and single-use (email_link_uses). A link only opens a confirmation page; the decision is
// made by confirming it there, so a mail scanner that follows links decides nothing.
//
// A link names nobody. URLs end up in proxies' and link scanners' logs, so a link carries the
// request id, the decision, its expiry, and for the person it was sent to only a keyed hash of
// their id and address on that request (an id can itself be an address). Who that is, by name and
// address, is read when the link is opened, from the people the request's record names then: a
// person no longer named there (reassigned away) is matched by no link, and nobody else can be.
import type { Person } from '../../domain/card-operation';
import type { Config } from '../../libraries/config';
import { keyedDigest, signLink, verifyLink } from '../../libraries/signed-links';
import { TIMESTAMP_RANGE, idProblem, personProblems } from '../../domain/validate-message';

export const LINK_DECISIONS = ['APPROVED', 'POSTPONED', 'REJECTED'] as const;
export type LinkDecision = (typeof LINK_DECISIONS)[number];

type Recipient = Pick<Person, 'id' | 'name' | 'email'>;

/** What a link stands for: a decision on a request by the person it was sent to, until when. */
export interface DecisionLink {
  /** Stable per email (recipient and event), shared by its three links: one email decides once, and a resent email carries the same links. */
  linkId: string;
  requestId: string;
  decision: LinkDecision;
  expiresAt: number;
  /** The person the link was sent to, among `people` (those the request's record names now), or undefined when none of them is. */
  recipientAmong(people: readonly Recipient[]): Recipient | undefined;
}

export type LinkProblem = 'INVALID' | 'EXPIRED';

/** What a link carries, as signed (format 2): nothing in it names a person. */
interface LinkPayload {
  v: 2;
  linkId: string;
  requestId: string;
  /** Whom it was sent to: `recipientRef` of them. */
  to: string;
  decision: LinkDecision;
  expiresAt: number;
}

/** Stands for one person on one request (another request gets another value, so links cannot be told to be one person's). */
const recipientRef = (secret: string, requestId: string, person: Pick<Person, 'id' | 'email'>): string =>
  keyedDigest(secret, 'recipient', requestId, person.id.toLowerCase(), person.email.toLowerCase());

export class DecisionLinks {
  constructor(private readonly settings: { secrets: readonly string[]; ttlMs: number; baseUrl: string }) {}

  /** The three links for `recipient` in the email of `eventId` about `requestId`, valid for the configured time from `now`. */
  linksFor(eventId: string, requestId: string, recipient: Person, now: number): Record<LinkDecision, string> {
    const base = this.settings.baseUrl.replace(/\/$/, '');
    const secret = this.settings.secrets[0]!; // the first key signs
    const one = (decision: LinkDecision): string => {
      const payload: LinkPayload = {
        v: 2,
        linkId: keyedDigest(secret, 'link', eventId, recipient.email.toLowerCase()),
        requestId,
        to: recipientRef(secret, requestId, recipient),
        decision,
        expiresAt: now + this.settings.ttlMs,
      };
      return `${base}/${signLink(payload, secret)}`;
    };
    return { APPROVED: one('APPROVED'), POSTPONED: one('POSTPONED'), REJECTED: one('REJECTED') };
  }

  /** The link a token stands for, or why it stands for none. */
  read(token: string, now: number): DecisionLink | LinkProblem {
    const verified = verifyLink(token, this.settings.secrets);
    if (!verified || typeof verified.payload !== 'object' || verified.payload === null) return 'INVALID';
    const payload = verified.payload as Record<string, unknown>;
    const link = payload.v === 2 ? currentFormat(payload, verified.signedWith) : 'v' in payload ? undefined : formatBeforeReferences(payload);
    if (!link) return 'INVALID';
    return link.expiresAt <= now ? 'EXPIRED' : link;
  }
}

/** The fields every format has, checked. */
function common(payload: Record<string, unknown>): Omit<DecisionLink, 'recipientAmong'> | undefined {
  const { linkId, requestId, decision, expiresAt } = payload;
  const valid =
    typeof linkId === 'string' &&
    typeof requestId === 'string' &&
    idProblem('requestId', requestId) === undefined &&
    typeof expiresAt === 'number' &&
    Number.isSafeInteger(expiresAt) &&
    expiresAt >= TIMESTAMP_RANGE.min &&
    expiresAt <= TIMESTAMP_RANGE.max &&
    LINK_DECISIONS.includes(decision as LinkDecision);
  return valid ? { linkId, requestId, decision: decision as LinkDecision, expiresAt } : undefined;
}

function currentFormat(payload: Record<string, unknown>, signedWith: string): DecisionLink | undefined {
  const fields = common(payload);
  const { to } = payload;
  if (!fields || typeof to !== 'string') return undefined;
  // Made with the key that signed the link, so a link signed before a key rotation still finds its person.
  return { ...fields, recipientAmong: (people) => people.find((p) => recipientRef(signedWith, fields.requestId, p) === to) };
}

/**
 * TO BE REMOVED one release after this one, when no link in this format can still be valid
 * (EMAIL_LINK_TTL is at most 30 days). The format of the previous version, which carried the
 * approver's id, name and email ({linkId, requestId, approver, decision, expiresAt}): read so that
 * links already sent, and those a replica of the previous version signs during a rolling update,
 * keep working until they expire. Never written any more. Its person is the one it names; the
 * checks that follow refuse them when the request no longer asks them.
 */
function formatBeforeReferences(payload: Record<string, unknown>): DecisionLink | undefined {
  const fields = common(payload);
  const person = payload.approver as Partial<Record<keyof Recipient, unknown>> | undefined;
  const { id, name, email } = person ?? {};
  if (!fields || typeof id !== 'string' || typeof name !== 'string' || typeof email !== 'string') return undefined;
  if (personProblems('approver', { id, name, email, locale: null }).length > 0) return undefined;
  return { ...fields, recipientAmong: () => ({ id, name, email }) };
}

/** Where links point: beside the approvers' page (OPERATOR_URL without its /approvals). */
export const EMAIL_ACTIONS_SEGMENT = 'email-actions';

/** The links the configuration asks for, or none (EMAIL_LINK_SECRET unset). */
export function decisionLinksFor(config: Pick<Config, 'emailLinks' | 'operatorUrl'>): DecisionLinks | undefined {
  if (!config.emailLinks) return undefined;
  const baseUrl = `${config.operatorUrl.replace(/\/+$/, '').replace(/\/approvals$/, '')}/${EMAIL_ACTIONS_SEGMENT}`;
  return new DecisionLinks({ ...config.emailLinks, baseUrl });
}
