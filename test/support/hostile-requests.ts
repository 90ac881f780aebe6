// Schema-valid card-operation requests with hostile content, generated (fast-check): control and
// invalid characters, extreme numbers and dates, empty and oversize strings, card counts at and
// past the limit, and unusual Unicode (combining marks, right-to-left, astral planes). Most start
// from a valid request and spoil one or two fields, so that records, emails and dead letters all
// occur. Used by the generator test in `npm test` and its longer form in `npm run chaos`.
import fc from 'fast-check';
import { OPERATIONS, type Card, type CardOperationRequest, type Operation, type Person } from '../../src/domain/card-operation';
import { aCard, aPerson, aRequest } from './builders';

const MS_MAX = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Strings an upstream system could send by mistake or malice. */
const hostileString = (maxLength: number): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }), // any code point, controls and astral planes included
    fc.string({ unit: 'grapheme-composite', maxLength: 40 }), // combining marks
    fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\u202eevil\u202c', 'שלום עולם', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'e\u0301\u0301\u0301', '\ud800', 'line\u2028break', '\r\nBcc: x@y.z', '<script>x</script>'),
    fc.constant('x'.repeat(maxLength)),
    fc.constant('x'.repeat(maxLength + 1)),
  );

const hostileTimestamp: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: MS_MAX }),
  fc.constantFrom(0, -1, MS_MAX, MS_MAX + 1, Date.now() * 1000, 8.64e15, 9e15, 2 ** 52, -(2 ** 52)), // the largest an Avro long in avsc takes
);

type Spoil = (r: CardOperationRequest, value: unknown) => CardOperationRequest;
const person = (p: Person, s: string, field: keyof Person): Person => ({ ...p, [field]: s });

/** One field spoiled, with the value that spoils it. */
const spoilers: Array<[fc.Arbitrary<unknown>, Spoil]> = [
  [hostileString(200), (r, s) => ({ ...r, requestId: `${r.requestId}${s as string}` })],
  [hostileString(200), (r, s) => ({ ...r, requester: person(r.requester, s as string, 'name') })],
  [hostileString(254), (r, s) => ({ ...r, requester: person(r.requester, s as string, 'email') })],
  [hostileString(200), (r, s) => ({ ...r, requester: person(r.requester, s as string, 'id') })],
  [hostileString(4000), (r, s) => ({ ...r, description: s as string })],
  [hostileString(200), (r, s) => ({ ...r, cards: r.cards.map((c) => ({ ...c, cardType: s as string })) })],
  [hostileString(200), (r, s) => ({ ...r, cards: r.cards.map((c) => ({ ...c, holder: person(c.holder, s as string, 'name') })) })],
  [hostileString(200), (r, s) => ({ ...r, approvers: r.approvers.map((a, i) => (i === 0 ? person(a, s as string, 'name') : a)) })],
  [hostileString(200), (r, s) => ({ ...r, attributes: { [s as string]: 'v' } })],
  [hostileString(200), (r, s) => ({ ...r, attributes: { k: s as string } })],
  [hostileTimestamp, (r, t) => ({ ...r, requestedAt: t as number })],
  [hostileTimestamp, (r, t) => ({ ...r, cards: r.cards.map((c) => ({ ...c, validTo: t as number })) })],
  [fc.integer({ min: 0, max: 25 }), (r, n) => ({ ...r, cards: Array.from({ length: n as number }, (): Card => aCard()) })],
  [fc.integer({ min: 0, max: 3 }), (r, n) => ({ ...r, approvers: [r.requester, r.cards[0]?.holder ?? r.requester].slice(0, n as number) })],
];

/** A valid request of `operation`, then none, one or two spoiled fields. */
export const hostileRequest = (operation: fc.Arbitrary<Operation> = fc.constantFrom(...OPERATIONS)): fc.Arbitrary<CardOperationRequest> =>
  fc
    .tuple(
      operation,
      fc.array(
        fc.oneof(...spoilers.map(([value, spoil]) => value.map((v) => (r: CardOperationRequest) => spoil(r, v)))),
        { maxLength: 2 },
      ),
    )
    .map(([op, spoils]) => spoils.reduce((r, spoil) => spoil(r), aRequest(op, { requester: aPerson('requester') })));
