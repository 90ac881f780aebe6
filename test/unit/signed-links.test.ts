// Signed links: one spelling per token, nothing but what was signed, and nobody named in them.
import { DecisionLinks, type DecisionLink } from '../../src/adapters/email/decision-links';
import { signLink, verifyLink } from '../../src/libraries/signed-links';
import { aPerson } from '../support/builders';
import { MADE_BY_THE_PREVIOUS_VERSION, linksBeforeReferences } from '../support/links-before-references';
import { peopleNamedIn } from '../support/link-readings';

const SECRET = 'a-link-secret-long-enough-for-the-test-0123';
const OTHER = 'another-link-secret-long-enough-for-tests-9876';
const links = new DecisionLinks({ secrets: [SECRET], ttlMs: 60_000, baseUrl: 'https://a.example/email-actions' });
const tokenOf = (url: string): string => url.split('/').pop()!;
const readOk = (reader: DecisionLinks, url: string, now = Date.now()): DecisionLink => {
  const link = reader.read(tokenOf(url), now);
  if (typeof link === 'string') throw new Error(`the link reads as ${link}`);
  return link;
};

test('a token verifies as issued, and not with padding, another alphabet, a changed payload or another secret', () => {
  const token = signLink({ a: 1 }, SECRET);
  const [body, mac] = token.split('.') as [string, string];
  expect(verifyLink(token, [OTHER, SECRET])).toEqual({ payload: { a: 1 }, signedWith: SECRET });
  expect(verifyLink(`${token}=`, [SECRET])).toBeUndefined();
  expect(verifyLink(`${body}.${mac.replace(/-/g, '+').replace(/_/g, '/')}${/[-_]/.test(mac) ? '' : '+'}`, [SECRET])).toBeUndefined();
  expect(verifyLink(`${Buffer.from('{"a":2}').toString('base64url')}.${mac}`, [SECRET])).toBeUndefined();
  expect(verifyLink(token, [`${SECRET}x`])).toBeUndefined();
  expect(verifyLink(`${token}.x`, [SECRET])).toBeUndefined();
});

test('a signed link of the wrong shape (no recipient, a NUL in the request id, a time past 9999, another decision or format) is not valid', () => {
  const payload = JSON.parse(Buffer.from(tokenOf(links.linksFor('event', 'r1', aPerson('approver'), Date.now()).APPROVED).split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
  expect(links.read(signLink(payload, SECRET), Date.now())).toMatchObject({ linkId: payload.linkId, requestId: 'r1', decision: 'APPROVED' });
  for (const bad of [{ ...payload, to: undefined }, { ...payload, requestId: 'r\u00001' }, { ...payload, expiresAt: 1e300 }, { ...payload, decision: 'WITHDRAWN' }, { ...payload, v: 3 }, [payload], 'text', null]) {
    expect(links.read(signLink(bad as object, SECRET), Date.now())).toBe('INVALID');
  }
  expect(links.read(tokenOf(links.linksFor('event', 'r1', aPerson('approver'), Date.now() - 60_000).APPROVED), Date.now())).toBe('EXPIRED');
});

test('a link finds the person it was sent to among those a record names, by id and address (case aside), and nobody else', () => {
  const to = aPerson('approver', { id: 'Ann.Approver@corp.example', email: 'ann.approver@corp.example' });
  const others = [aPerson('approver'), { ...to, email: 'someone.else@corp.example' }, { ...to, id: 'ann' }];
  const urls = links.linksFor('event', 'r1', to, Date.now());
  const read = Object.values(urls).map((url) => readOk(links, url));
  // One email's three links decide once between them.
  expect(new Set(read.map((l) => l.linkId)).size).toBe(1);
  expect(read[0]!.recipientAmong([...others, { ...to, id: to.id.toLowerCase(), email: to.email.toUpperCase() }])).toMatchObject({ name: to.name });
  expect(read[0]!.recipientAmong(others)).toBeUndefined();
  // The same person in another request's link is another value: links cannot be told to be one person's.
  const [own, another] = [links.linksFor('event', 'r1', to, 0).APPROVED, links.linksFor('event', 'r2', to, 0).APPROVED].map((url) => JSON.parse(Buffer.from(tokenOf(url).split('.')[0]!, 'base64url').toString()).to as string);
  expect(own).not.toBe(another);
});

test('no link names its recipient, not even an id that is an address, in any reading; the test sees them in a link of the previous format', () => {
  const to = aPerson('approver', { id: 'Ann.Approver@corp.example', email: 'ann.approver@corp.example', name: 'Ann Approver' });
  for (const url of Object.values(links.linksFor('event-1', 'req-1', to, Date.now()))) expect(peopleNamedIn(url, [to])).toEqual([]);
  const before = linksBeforeReferences({ secret: SECRET, ttlMs: 60_000, baseUrl: 'https://a.example/email-actions' }, 'event-1', 'req-1', to, Date.now()).APPROVED;
  expect(peopleNamedIn(before, [to]).sort()).toEqual(['ann approver', 'ann.approver', 'ann.approver@corp.example']);
});

test('after a key rotation, a link signed with the old key still verifies and finds its person', () => {
  const to = aPerson('approver');
  const signedBefore = links.linksFor('event', 'r1', to, Date.now()).POSTPONED;
  const rotated = new DecisionLinks({ secrets: [OTHER, SECRET], ttlMs: 60_000, baseUrl: 'https://a.example/email-actions' });
  expect(readOk(rotated, signedBefore).recipientAmong([aPerson('approver'), to])).toMatchObject({ id: to.id });
  expect(rotated.read(tokenOf(signedBefore), Date.now())).not.toBe('INVALID');
  expect(new DecisionLinks({ secrets: [OTHER], ttlMs: 60_000, baseUrl: 'https://a.example/email-actions' }).read(tokenOf(signedBefore), Date.now())).toBe('INVALID');
});

test('a link of the previous format (made by that version) still reads, as the person it names, until it expires', () => {
  const made = MADE_BY_THE_PREVIOUS_VERSION;
  // The copy of the previous version's writer that the integration tests use makes exactly what that version made.
  expect(linksBeforeReferences(made.settings, made.eventId, made.requestId, made.recipient, made.now).APPROVED).toBe(made.approve);
  const reader = new DecisionLinks({ secrets: [made.settings.secret], ttlMs: made.settings.ttlMs, baseUrl: made.settings.baseUrl });
  const link = readOk(reader, made.approve, made.now + 1000);
  expect(link).toMatchObject({ requestId: made.requestId, decision: 'APPROVED', expiresAt: made.now + made.settings.ttlMs });
  expect(link.recipientAmong([])).toEqual({ id: made.recipient.id, name: made.recipient.name, email: made.recipient.email });
  expect(reader.read(tokenOf(made.approve), made.now + made.settings.ttlMs)).toBe('EXPIRED');
  const noEmail = { ...(JSON.parse(Buffer.from(tokenOf(made.approve).split('.')[0]!, 'base64url').toString()) as object), approver: { id: 'a', name: 'A' } };
  expect(reader.read(signLink(noEmail, made.settings.secret), made.now)).toBe('INVALID');
});

test('the previous version cannot read a link of the current format: it has no approver, which that version requires, so it is "not valid" there and decides nothing', () => {
  const payload = JSON.parse(Buffer.from(tokenOf(links.linksFor('event', 'r1', aPerson('approver'), Date.now()).APPROVED).split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
  expect(Object.keys(payload).sort()).toEqual(['decision', 'expiresAt', 'linkId', 'requestId', 'to', 'v']);
});
