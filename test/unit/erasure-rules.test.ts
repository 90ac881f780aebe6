// Erasure's pure parts: what happens to a pending approval the person has a part in, and how a
// stored value reads once they are a pseudonym (generated values with their names, addresses and
// ids wherever JSON and free text can hold them; values without them come out unchanged).
import fc from 'fast-check';
import { openApproval } from '../../src/domain/open-approval';
import { ANY_RULE } from '../../src/domain/approval-policy';
import { ERASED_NO_APPROVER_LEFT, ERASED_REASON, erasureDecisions, pseudonymOf, type PersonIdentities } from '../../src/domain/erase-person';
import type { Identity } from '../../src/domain/callers';
import type { CardOperationRequest, Person } from '../../src/domain/card-operation';
import { pseudonymising } from '../../src/data-access/personal-data';
import { aCard, aPerson, aRequest } from '../support/builders';

const NOW = Date.UTC(2026, 11, 2, 12);
const operator: Identity = { ...aPerson('operator'), roles: ['operator'] };
const identities = (p: Person): PersonIdentities => ({ ids: [p.id.toLowerCase()], emails: [p.email.toLowerCase()], names: [p.name] });
const recordOf = (request: CardOperationRequest) => openApproval(request, [{ name: 'approval', rule: ANY_RULE, approvers: request.approvers }], NOW, 'x.test').record;

describe('a pending approval of the person erased', () => {
  const person = aPerson('erasee');
  const group = [aPerson('group-member')];

  test('as its requester or a card holder: withdrawn, reason "erased"', () => {
    for (const request of [aRequest('LOCK_CARD', { requester: person }), aRequest('LOCK_CARD', { cards: [aCard(person)] })]) {
      const [decision] = erasureDecisions([recordOf(request)], identities(person), operator, { LOCK_CARD: group }, NOW);
      expect(decision).toMatchObject({ decision: 'WITHDRAWN', reason: ERASED_REASON, actingAs: 'OPERATOR', approver: { id: operator.id } });
    }
  });

  test("as an approver: their part goes to the operation's group, or without one the approval is withdrawn", () => {
    const record = recordOf(aRequest('LOCK_CARD', { approvers: [person, aPerson('approver')] }));
    expect(erasureDecisions([record], identities(person), operator, { LOCK_CARD: group }, NOW)).toMatchObject([{ decision: 'REASSIGNED', reassign: { from: { id: person.id }, to: group[0] } }]);
    expect(erasureDecisions([record], identities(person), operator, {}, NOW)).toMatchObject([{ decision: 'WITHDRAWN', reason: ERASED_NO_APPROVER_LEFT }]);
    // A group member who is the requester may not take it.
    const own = recordOf(aRequest('LOCK_CARD', { requester: group[0], approvers: [person, aPerson('approver')] }));
    expect(erasureDecisions([own], identities(person), operator, { LOCK_CARD: group }, NOW)).toMatchObject([{ decision: 'WITHDRAWN', reason: ERASED_NO_APPROVER_LEFT }]);
  });

  test('with no part in it, or closed: untouched', () => {
    const record = recordOf(aRequest('LOCK_CARD'));
    expect(erasureDecisions([record, { ...recordOf(aRequest('LOCK_CARD', { requester: person })), status: 'APPROVED' }], identities(person), operator, {}, NOW)).toEqual([]);
  });
});

describe('a stored value, once the person is a pseudonym', () => {
  const word = fc.stringMatching(/^[A-Za-zÅÄÖåäöß]{3,10}$/);
  const people = fc.record({ first: word, last: word, local: fc.stringMatching(/^[a-z0-9._-]{1,12}$/), id: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{3,15}$/) }).map(
    ({ first, last, local, id }): Person => ({ id: `p-${id}`, name: `${first} ${last}`, email: `${local}@Example.COM`, locale: null }),
  );
  const pseudonym = pseudonymOf(7);
  /** JSON that holds the person as objects and in free text, among other values. */
  const holding = (p: Person) => {
    const text = fc.array(fc.oneof(word, fc.constant(p.name), fc.constant(p.email.toUpperCase()), fc.constant(p.id), fc.constant(`(${p.email})`)), { maxLength: 6 }).map((w) => w.join(' '));
    return fc.letrec<{ value: unknown }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.integer(),
        fc.constant({ ...p, locale: 'sv' }),
        fc.constant({ id: p.id.toUpperCase(), name: 'Another Spelling', email: 'elsewhere@example.com' }),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(word, tie('value'), { maxKeys: 3 }),
      ),
    })).value;
  };

  test('names them nowhere, whether as a person, in text, or as stored JSON text', () => {
    fc.assert(
      fc.property(people.chain((p) => fc.tuple(fc.constant(p), holding(p))), ([p, value]) => {
        const rewrite = pseudonymising({ ...identities(p), names: [p.name, 'Another Spelling'] }, pseudonym);
        for (const rewritten of [JSON.stringify(rewrite.json(value)), rewrite.column(JSON.stringify(value), false)]) {
          const lower = rewritten.toLowerCase();
          expect(lower).not.toContain(p.email.toLowerCase());
          expect(lower).not.toContain(p.name.toLowerCase());
          expect(lower).not.toMatch(new RegExp(`(^|[^a-z0-9_@-])${p.id}([^a-z0-9_@-]|$)`));
        }
      }),
    );
  });

  test('leaves a value that does not hold them as it was', () => {
    fc.assert(
      fc.property(people, people, (p, q) => {
        fc.pre(p.id !== q.id && p.email.toLowerCase() !== q.email.toLowerCase() && !`${q.name} ${q.email} ${q.id}`.toLowerCase().includes(p.name.toLowerCase()));
        const value = { requester: q, reason: `${q.name} asked`, cards: [{ holder: q }] };
        expect(pseudonymising(identities(p), pseudonym).json(value)).toEqual(value);
      }),
    );
  });

  test("an id column holding their id becomes the pseudonym's; other text stays", () => {
    const p = aPerson('caller');
    const rewrite = pseudonymising(identities(p), pseudonym);
    expect(rewrite.column(p.id.toUpperCase(), true)).toBe(pseudonym.id);
    expect(rewrite.column('someone-else', true)).toBe('someone-else');
  });
});
