// The audit chain recomputed, without a database: chains made as the trigger makes them, then
// changed, cut or added to one entry at a time; each report names that entry, and nothing else.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { AUDIT_CHAIN_LABEL, FACT_ORDER, actorDigest, canonicalEntry, entryHash, keyId, reasonDigest, verifyChain, type StoredEntry } from '../../src/domain/audit-chain';
import { AUDIT_CHAIN_LABEL as MIGRATION_LABEL, CHAIN_FACTS } from '../../src/data-access/migrations/1765400000000-audit-chain';

const keys = new Map<string, Buffer>();
const keyOf = (person: string): Buffer => keys.get(person) ?? keys.set(person, randomBytes(32)).get(person)!;

type Draft = Pick<StoredEntry, 'type'> & Partial<Pick<StoredEntry, 'actor' | 'reason' | 'decisionKind' | 'decisionId' | 'refusalCode' | 'statusBefore' | 'statusAfter'>>;

/** An entry as the trigger stores it: digests under its actor's key (the system's without one), linked to `prev`. */
function stored(seq: number, draft: Draft, prev: string | null): StoredEntry {
  const actor = draft.actor ?? null;
  const reason = draft.reason ?? null;
  const key = actor || reason !== null ? keyOf(actor ? (actor.id ?? '').toLowerCase() : '') : null;
  const facts = {
    seq: String(seq),
    eventId: `event-${seq}`,
    requestId: 'req-1',
    type: draft.type,
    statusBefore: draft.statusBefore === undefined ? 'PENDING' : draft.statusBefore,
    statusAfter: draft.statusAfter === undefined ? 'PENDING' : draft.statusAfter,
    decisionKind: draft.decisionKind ?? null,
    decisionId: draft.decisionId ?? null,
    refusalCode: draft.refusalCode ?? null,
    occurredAt: new Date(Date.UTC(2026, 11, 1, 9, 0, seq)).toISOString().replace('Z', '123Z'),
    digestKey: key ? keyId(key) : null,
    actorDigest: key && actor ? actorDigest(key, actor) : null,
    reasonDigest: key && reason !== null ? reasonDigest(key, reason) : null,
  };
  return { ...facts, prevHash: prev, hash: entryHash(prev, facts), actor, reason, key, redacted: false };
}

const alice = { id: 'Alice-1', name: 'Alice Example', email: 'alice@example.com' };
const bob = { id: 'bob-2', name: 'Bob "B" Example', email: 'bob@example.com' };
const DRAFTS: Draft[] = [
  { type: 'OPENED', actor: { id: 'req-person', name: 'Rita Requester', email: 'rita@example.com' }, statusBefore: null },
  { type: 'REMINDED', reason: 'Reminder 1: still waiting for a decision.' },
  { type: 'POSTPONED', actor: bob, reason: 'next week, "maybe"', decisionKind: 'POSTPONED', decisionId: 'd-1' },
  { type: 'ESCALATED', reason: 'Escalated: also offered to Carol.' },
  { type: 'REJECTED', actor: alice, reason: 'Card holder left', decisionKind: 'REJECTED', decisionId: 'd-2', statusAfter: 'REJECTED' },
];

/** A chain of the drafts at seqs 10, 20, 30 …, as the trigger makes it. */
function chainOf(drafts: Draft[] = DRAFTS): StoredEntry[] {
  const entries: StoredEntry[] = [];
  drafts.forEach((d, i) => entries.push(stored((i + 1) * 10, d, entries.at(-1)?.hash ?? null)));
  return entries;
}
const at = (entries: StoredEntry[], seq: number): StoredEntry => entries.find((e) => e.seq === String(seq))!;
const named = (report: ReturnType<typeof verifyChain>) => report.problems.map((p) => ({ kind: p.kind, seq: p.seq }));

test('the facts are encoded in the order the migration hashes them, under the same label', () => {
  expect(CHAIN_FACTS.map(([name]) => name)).toEqual([...FACT_ORDER]);
  expect(MIGRATION_LABEL).toBe(AUDIT_CHAIN_LABEL);
});

test('the encoding is a JSON array of text or null, with no room for one value to run into the next', () => {
  const [entry] = chainOf();
  expect(canonicalEntry(null, entry!)).toBe(
    `["${AUDIT_CHAIN_LABEL}",null,"10","event-10","req-1","OPENED",null,"PENDING",null,null,null,"${entry!.occurredAt}","${entry!.digestKey}","${entry!.actorDigest}",null]`,
  );
  // Where plain concatenation would make the same text of two different entries, the encodings differ.
  const a = { ...entry!, eventId: 'a","b', requestId: 'c' };
  const b = { ...entry!, eventId: 'a', requestId: 'b","c' };
  expect(canonicalEntry(null, a)).not.toBe(canonicalEntry(null, b));
});

test('when nothing was touched, then the chain holds and its head is the newest hash', () => {
  const entries = chainOf();
  const report = verifyChain('req-1', entries);
  expect(report).toMatchObject({ entries: 5, erasedDigests: 0, redacted: 0, trimmed: false, problems: [], head: entries[4]!.hash });
});

test.each<[string, (e: StoredEntry[]) => StoredEntry[], Array<{ kind: string; seq: string }>]>([
  ['a fact of an entry changed', (e) => e.map((x) => (x.seq === '30' ? { ...x, type: 'APPROVED' } : x)), [{ kind: 'CHANGED', seq: '30' }]],
  ['its time changed by a microsecond', (e) => e.map((x) => (x.seq === '20' ? { ...x, occurredAt: x.occurredAt.replace('123Z', '124Z') } : x)), [{ kind: 'CHANGED', seq: '20' }]],
  ['its hash column alone changed', (e) => e.map((x) => (x.seq === '30' ? { ...x, hash: 'f'.repeat(64) } : x)), [{ kind: 'CHANGED', seq: '30' }]],
  ['its reason changed', (e) => e.map((x) => (x.seq === '50' ? { ...x, reason: 'Looks fine' } : x)), [{ kind: 'CHANGED', seq: '50' }]],
  ["a reminder's reason changed (the system's key)", (e) => e.map((x) => (x.seq === '40' ? { ...x, reason: 'Escalated: also offered to Mallory.' } : x)), [{ kind: 'CHANGED', seq: '40' }]],
  ['its actor changed to someone else', (e) => e.map((x) => (x.seq === '50' ? { ...x, actor: bob } : x)), [{ kind: 'CHANGED', seq: '50' }]],
  ['its actor given to an entry that had none', (e) => e.map((x) => (x.seq === '20' ? { ...x, actor: alice } : x)), [{ kind: 'CHANGED', seq: '20' }]],
  ['its digests pointed at a key that is gone', (e) => e.map((x) => (x.seq === '50' ? { ...x, digestKey: 'a'.repeat(64), key: null } : x)), [{ kind: 'CHANGED', seq: '50' }]],
  ['an entry in the middle removed', (e) => e.filter((x) => x.seq !== '30'), [{ kind: 'REMOVED', seq: '40' }]],
  ['two entries in the middle removed', (e) => e.filter((x) => x.seq !== '30' && x.seq !== '20'), [{ kind: 'REMOVED', seq: '40' }]],
  ['the oldest entry removed', (e) => e.slice(1), [{ kind: 'REMOVED', seq: '20' }]],
  ['an entry inserted through the trigger (linked to the newest)', (e) => [...e, stored(35, { type: 'APPROVED', actor: alice, decisionKind: 'APPROVED', decisionId: 'forged' }, e.at(-1)!.hash)], [{ kind: 'INSERTED', seq: '35' }]],
  ['an entry inserted linked to the one before it', (e) => [...e, stored(35, { type: 'APPROVED', actor: alice }, at(e, 30).hash)], [{ kind: 'INSERTED', seq: '35' }]],
  ['an entry inserted past the trigger, with no hash', (e) => [...e, { ...stored(35, { type: 'APPROVED' }, null), hash: null, prevHash: null }], [{ kind: 'INSERTED', seq: '35' }]],
  ['an entry inserted before the oldest', (e) => [...e, stored(5, { type: 'APPROVED', actor: alice }, e.at(-1)!.hash)], [{ kind: 'INSERTED', seq: '5' }]],
])('when %s, then exactly that is named', (_, tamper, expected) => {
  expect(named(verifyChain('req-1', tamper(chainOf())))).toEqual(expected);
});

test('a removal names the gap: the entry after it, the one before it and the missing hash', () => {
  const entries = chainOf();
  const [problem] = verifyChain('req-1', entries.filter((x) => x.seq !== '30')).problems;
  expect(problem).toMatchObject({ kind: 'REMOVED', requestId: 'req-1', seq: '40', eventId: 'event-40', missingHash: at(entries, 30).hash, after: { seq: '20', eventId: 'event-20' } });
  expect(verifyChain('req-1', entries.slice(1)).problems[0]).toMatchObject({ kind: 'REMOVED', after: null, missingHash: entries[0]!.hash });
});

test('the newest entries removed, or a whole history, leave a chain that holds: the heads published elsewhere are what show it', () => {
  expect(verifyChain('req-1', chainOf().slice(0, 3)).problems).toEqual([]);
  expect(verifyChain('req-1', []).problems).toEqual([]);
});

test("when a request that never came lost its oldest entries to retention, then that is no problem, and is said", () => {
  const refused: Draft = { type: 'DECISION_REFUSED', actor: alice, reason: 'no such request', decisionKind: 'APPROVED', refusalCode: 'UNKNOWN_REQUEST', statusBefore: null, statusAfter: null };
  const entries = chainOf([refused, refused, refused]).slice(1);
  expect(verifyChain('req-1', entries, true)).toMatchObject({ trimmed: true, problems: [] });
  // A gap later than the start is a problem even so.
  expect(named(verifyChain('req-1', chainOf([refused, refused, refused]).filter((e) => e.seq !== '20'), true))).toEqual([{ kind: 'REMOVED', seq: '30' }]);
});

test("when a person's key is gone (erased), then their digests are counted, not checked, and the chain holds", () => {
  const erased = chainOf().map((e) => (e.actor?.id === alice.id ? { ...e, actor: { id: 'erased-1', name: 'erased', email: 'erased' }, reason: '(erased)', key: null } : e));
  expect(verifyChain('req-1', erased)).toMatchObject({ erasedDigests: 2, problems: [] });
});

test('when an erasure rewrote a reason (redacted), then a reason no longer matching its digest is counted as redacted, not changed', () => {
  const redacted = chainOf().map((e) => (e.seq === '40' ? { ...e, reason: 'Escalated: also offered to [erased].', redacted: true } : e));
  expect(verifyChain('req-1', redacted)).toMatchObject({ redacted: 1, problems: [] });
  // Without redacted_at, the same rewrite is a change.
  expect(named(verifyChain('req-1', redacted.map((e) => ({ ...e, redacted: false }))))).toEqual([{ kind: 'CHANGED', seq: '40' }]);
});

test('any one change, removal or insertion in the middle of any chain names that entry and nothing else', () => {
  const draft = fc.record({
    type: fc.constantFrom('OPENED', 'POSTPONED', 'APPROVED', 'REMINDED'),
    actor: fc.option(fc.record({ id: fc.string({ minLength: 1 }), name: fc.string(), email: fc.string() }), { nil: undefined }),
    reason: fc.option(fc.string({ unit: 'binary' }), { nil: undefined }),
  });
  fc.assert(
    fc.property(fc.array(draft, { minLength: 3, maxLength: 8 }), fc.nat(), fc.constantFrom('change', 'remove', 'insert'), (drafts, pick, how) => {
      const entries = chainOf(drafts);
      const i = 1 + (pick % (entries.length - 2)); // in the middle: not the oldest, not the newest
      const target = entries[i]!;
      let tampered: StoredEntry[];
      let expected: { kind: string; seq: string };
      if (how === 'change') {
        tampered = entries.map((e) => (e === target ? { ...e, type: `${e.type}!` } : e));
        expected = { kind: 'CHANGED', seq: target.seq };
      } else if (how === 'remove') {
        tampered = entries.filter((e) => e !== target);
        expected = { kind: 'REMOVED', seq: entries[i + 1]!.seq };
      } else {
        const forged = stored(Number(target.seq) + 5, { type: 'APPROVED', actor: alice }, entries.at(-1)!.hash);
        tampered = [...entries, forged];
        expected = { kind: 'INSERTED', seq: forged.seq };
      }
      expect(named(verifyChain('req-1', tampered))).toEqual([expected]);
    }),
    { numRuns: 300 },
  );
});
