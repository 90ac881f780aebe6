// One-click decision links in approver emails: signed, expiring, bound to one approver and one
// request, and single-use (email_link_uses). A link only opens a confirmation page; the decision is
// made by confirming it there, so a mail scanner that follows links decides nothing.
//
// A link names nobody. URLs end up in proxies' and link scanners' logs, so a link carries the
// request id, the decision, its expiry, and for the person it was sent to only a keyed hash of
// their id and address on that request (an id can itself be an address). Who that is, by name and
// address, is read when the link is opened, from the people the request's record names then: a
// person no longer named there (reassigned away) is matched by no link, and nobody else can be.
import { z } from 'zod';
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
type LinkPayload = z.output<typeof CurrentFormat>;

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
    const link = verified && linkOf(verified.payload, verified.signedWith);
    if (!link) return 'INVALID';
    return link.expiresAt <= now ? 'EXPIRED' : link;
  }
}

/** The fields every format has. */
const common = {
  linkId: z.string(),
  requestId: z.string().refine((id) => idProblem('requestId', id) === undefined),
  decision: z.enum(LINK_DECISIONS),
  expiresAt: z.int().min(TIMESTAMP_RANGE.min).max(TIMESTAMP_RANGE.max),
};

/** This format: whom the link was sent to is only `recipientRef` of them. */
const CurrentFormat = z.object({ v: z.literal(2), ...common, to: z.string() });

/**
 * TO BE REMOVED one release after this one, when no link in this format can still be valid
 * (EMAIL_LINK_TTL is at most 30 days). The format of the previous version, which carried the
 * approver's id, name and email, and no `v`: read so that links already sent, and those a replica
 * of the previous version signs during a rolling update, keep working until they expire. Never
 * written any more. Its person is the one it names; the checks that follow refuse them when the
 * request no longer asks them.
 */
const FormatBeforeReferences = z.object({
  v: z.never().optional(),
  ...common,
  approver: z.object({ id: z.string(), name: z.string(), email: z.string() }).refine((p) => personProblems('approver', { ...p, locale: null }).length === 0),
});

/** The link a verified payload stands for, in either format, or undefined for one of neither shape. */
function linkOf(payload: unknown, signedWith: string): DecisionLink | undefined {
  const current = CurrentFormat.safeParse(payload);
  if (current.success) {
    const { v: _, to, ...fields } = current.data;
    // Made with the key that signed the link, so a link signed before a key rotation still finds its person.
    return { ...fields, recipientAmong: (people) => people.find((p) => recipientRef(signedWith, fields.requestId, p) === to) };
  }
  const before = FormatBeforeReferences.safeParse(payload);
  if (!before.success) return undefined;
  const { v: _, approver, ...fields } = before.data;
  return { ...fields, recipientAmong: () => approver };
}

/** Where links point: beside the approvers' page (OPERATOR_URL without its /approvals). */
export const EMAIL_ACTIONS_SEGMENT = 'email-actions';

/** The links the configuration asks for, or none (EMAIL_LINK_SECRET unset). */
export function decisionLinksFor(config: Pick<Config, 'emailLinks' | 'operatorUrl'>): DecisionLinks | undefined {
  if (!config.emailLinks) return undefined;
  const baseUrl = `${config.operatorUrl.replace(/\/+$/, '').replace(/\/approvals$/, '')}/${EMAIL_ACTIONS_SEGMENT}`;
  return new DecisionLinks({ ...config.emailLinks, baseUrl });
}
