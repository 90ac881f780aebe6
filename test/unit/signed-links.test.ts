// Signed links: one spelling per token, and nothing but what was signed.
import { DecisionLinks } from '../../src/adapters/email/decision-links';
import { signLink, verifyLink } from '../../src/libraries/signed-links';
import { aPerson } from '../support/builders';

const SECRET = 'a-link-secret-long-enough-for-the-test-0123';

test('a token verifies as issued, and not with padding, another alphabet, a changed payload or another secret', () => {
  const token = signLink({ a: 1 }, SECRET);
  const [body, mac] = token.split('.') as [string, string];
  expect(verifyLink(token, [SECRET])).toEqual({ a: 1 });
  expect(verifyLink(`${token}=`, [SECRET])).toBeUndefined();
  expect(verifyLink(`${body}.${mac.replace(/-/g, '+').replace(/_/g, '/')}${/[-_]/.test(mac) ? '' : '+'}`, [SECRET])).toBeUndefined();
  expect(verifyLink(`${Buffer.from('{"a":2}').toString('base64url')}.${mac}`, [SECRET])).toBeUndefined();
  expect(verifyLink(token, [`${SECRET}x`])).toBeUndefined();
  expect(verifyLink(`${token}.x`, [SECRET])).toBeUndefined();
});

test('a signed link of the wrong shape (no email, a NUL in the request id, a time past 9999) is not valid', () => {
  const links = new DecisionLinks({ secrets: [SECRET], ttlMs: 60_000, baseUrl: 'https://a.example/email-actions' });
  const good = { linkId: 'l', requestId: 'r1', approver: { id: 'a', name: 'A', email: 'a@example.com' }, decision: 'APPROVED', expiresAt: Date.now() + 60_000 };
  expect(links.read(signLink(good, SECRET), Date.now())).toEqual(good);
  for (const bad of [{ ...good, approver: { id: 'a', name: 'A' } }, { ...good, requestId: 'r\u00001' }, { ...good, expiresAt: 1e300 }, { ...good, decision: 'WITHDRAWN' }]) {
    expect(links.read(signLink(bad, SECRET), Date.now())).toBe('INVALID');
  }
  const link = links.linksFor('event', 'r1', aPerson('approver'), Date.now());
  expect(new Set(Object.values(link).map((url) => (links.read(url.split('/').pop()!, Date.now()) as { linkId: string }).linkId)).size).toBe(1);
});
