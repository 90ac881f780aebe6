// One-click links as the previous version writes them, carrying the approver's id, name and email:
// for the tests that show this version still honours them (links already sent, and those a replica
// of the previous version signs during a rolling update). A copy of that version's linksFor (as of ef36d2d);
// MADE_BY_THE_PREVIOUS_VERSION is a link its own code made, which the copy must reproduce exactly.
// Goes when the reader of that format goes (see decision-links.ts).
import { createHash } from 'node:crypto';
import type { Person } from '../../src/domain/card-operation';
import { signLink } from '../../src/libraries/signed-links';

export function linksBeforeReferences(
  settings: { secret: string; ttlMs: number; baseUrl: string },
  eventId: string,
  requestId: string,
  recipient: Person,
  now: number,
): Record<'APPROVED' | 'POSTPONED' | 'REJECTED', string> {
  const one = (decision: 'APPROVED' | 'POSTPONED' | 'REJECTED'): string => {
    const link = {
      linkId: createHash('sha256').update(`${eventId}\u0000${recipient.email.toLowerCase()}`).digest('base64url').slice(0, 32),
      requestId,
      approver: { id: recipient.id, name: recipient.name, email: recipient.email },
      decision,
      expiresAt: now + settings.ttlMs,
    };
    return `${settings.baseUrl.replace(/\/$/, '')}/${signLink(link, settings.secret)}`;
  };
  return { APPROVED: one('APPROVED'), POSTPONED: one('POSTPONED'), REJECTED: one('REJECTED') };
}

/** What the previous version's DecisionLinks.linksFor(eventId, requestId, recipient, now).APPROVED returned, with these settings. */
export const MADE_BY_THE_PREVIOUS_VERSION = {
  settings: { secret: 'a-link-secret-long-enough-for-the-test-0123', ttlMs: 7 * 86_400_000, baseUrl: 'https://approvals.example.com/email-actions' },
  eventId: 'event-1',
  requestId: 'req-fixture-1',
  recipient: { id: 'ann.approver@example.com', name: 'Ann Approver', email: 'Ann.Approver@example.com', locale: null } satisfies Person,
  now: Date.UTC(2026, 11, 1, 10, 0),
  approve:
    'https://approvals.example.com/email-actions/eyJsaW5rSWQiOiI4aTVsRlBKb1huZUtkYU9iZElTVTl2b1FDNUJBSVFOYiIsInJlcXVlc3RJZCI6InJlcS1maXh0dXJlLTEiLCJhcHByb3ZlciI6eyJpZCI6ImFubi5hcHByb3ZlckBleGFtcGxlLmNvbSIsIm5hbWUiOiJBbm4gQXBwcm92ZXIiLCJlbWFpbCI6IkFubi5BcHByb3ZlckBleGFtcGxlLmNvbSJ9LCJkZWNpc2lvbiI6IkFQUFJPVkVEIiwiZXhwaXJlc0F0IjoxNzk2NzI0MDAwMDAwfQ.nMfmArdO9L5MR7uw5eABdzyTemKnEt3zb3hbTEQE9ME',
};
