// The audit chain of a request's history, recomputed: each entry's hash covers its facts and the
// hash of the entry before it (by seq), so an entry changed, removed or inserted in the middle
// shows, unless every later hash was recomputed too. The database computes the chain as entries
// are stored (migration 1765400000000); this recomputes it with the same canonical encoding and
// says which entries do not fit, and how. Who acted and why enter the hash only as keyed digests
// (HMAC-SHA256 under a key per person): where the key is gone (an erasure destroyed it) they
// cannot be checked, and are counted as erased.
import { createHash, createHmac } from 'node:crypto';

/** The first element of every entry's encoding: the encoding's version (the migration's AUDIT_CHAIN_LABEL). */
export const AUDIT_CHAIN_LABEL = 'card-approvals/audit-chain/1';

/** The facts an entry's hash covers, each as the database hands it over: text, or null. */
export interface ChainFacts {
  seq: string;
  eventId: string;
  requestId: string;
  type: string;
  statusBefore: string | null;
  statusAfter: string | null;
  /** The decision's kind and id (decision->>'decision', decision->>'decisionId'). */
  decisionKind: string | null;
  decisionId: string | null;
  refusalCode: string | null;
  /** To the microsecond, UTC: 2026-12-01T10:00:00.123456Z. */
  occurredAt: string;
  /** The id (SHA-256) of the key the digests were made under. */
  digestKey: string | null;
  actorDigest: string | null;
  reasonDigest: string | null;
}

/** The order the facts take in the encoding (after the label and the previous hash): the migration's CHAIN_FACTS. */
export const FACT_ORDER = ['seq', 'eventId', 'requestId', 'type', 'statusBefore', 'statusAfter', 'decisionKind', 'decisionId', 'refusalCode', 'occurredAt', 'digestKey', 'actorDigest', 'reasonDigest'] as const satisfies ReadonlyArray<keyof ChainFacts>;

/**
 * The canonical encoding of an entry: the JSON array [label, prevHash, ...facts], every element a
 * string or null, as JSON.stringify writes it (no spaces). JSON's quoting makes it unambiguous:
 * no value can end early or run into the next.
 */
export function canonicalEntry(prevHash: string | null, facts: ChainFacts): string {
  return JSON.stringify([AUDIT_CHAIN_LABEL, prevHash, ...FACT_ORDER.map((name) => facts[name])]);
}

/** An entry's hash: SHA-256 of the UTF-8 of its canonical encoding, lower-case hex. */
export const entryHash = (prevHash: string | null, facts: ChainFacts): string => createHash('sha256').update(canonicalEntry(prevHash, facts), 'utf8').digest('hex');

const hmac = (key: Uint8Array, text: string): string => createHmac('sha256', key).update(text, 'utf8').digest('hex');

/** A person as the history stores them, each field as text or null. */
export interface StoredActor {
  id: string | null;
  name: string | null;
  email: string | null;
}

/** The actor's digest: HMAC-SHA256 of ["actor", id, name, email] under their key. */
export const actorDigest = (key: Uint8Array, actor: StoredActor): string => hmac(key, JSON.stringify(['actor', actor.id, actor.name, actor.email]));

/** The reason's digest: HMAC-SHA256 of ["reason", reason] under the key of whoever gave it (the system's for an event nobody caused). */
export const reasonDigest = (key: Uint8Array, reason: string): string => hmac(key, JSON.stringify(['reason', reason]));

/** A key's id, as the database computes it (KEY_ID). */
export const keyId = (key: Uint8Array): string => createHash('sha256').update(key).digest('hex');

/** An entry as stored now: its facts, its link and hash, and what its digests are of. */
export interface StoredEntry extends ChainFacts {
  prevHash: string | null;
  hash: string | null;
  actor: StoredActor | null;
  reason: string | null;
  /** The key named by digestKey; null when it is gone (erased) or none is named. */
  key: Uint8Array | null;
  /** An erasure rewrote its reason (redacted_at is set). */
  redacted: boolean;
}

export const CHAIN_PROBLEMS = ['CHANGED', 'REMOVED', 'INSERTED'] as const;
export type ChainProblemKind = (typeof CHAIN_PROBLEMS)[number];

export interface EntryRef {
  seq: string;
  eventId: string;
}

/**
 * An entry that does not fit. CHANGED: on the chain, but its facts, actor or reason are not what
 * its hash and digests were made of. REMOVED: the entry it is chained to is not in the history
 * (`missingHash` is that entry's hash; `after` the entry before the gap, null at the start).
 * INSERTED: not on the chain: no later entry is chained to it.
 */
export interface ChainProblem extends EntryRef {
  kind: ChainProblemKind;
  requestId: string;
  detail: string;
  missingHash?: string;
  after?: EntryRef | null;
}

export interface ChainReport {
  requestId: string;
  entries: number;
  /** Digests that cannot be checked: their key is gone (an erasure destroyed it). */
  erasedDigests: number;
  /** Entries whose reason an erasure rewrote: a reason that no longer matches its digest is not a problem there. */
  redacted: number;
  /** Its oldest entries were removed by retention (the history of a request that never came). */
  trimmed: boolean;
  /** The hash of its newest entry: what a published head would be compared with. */
  head: string | null;
  problems: ChainProblem[];
}

const ref = (e: StoredEntry): EntryRef => ({ seq: e.seq, eventId: e.eventId });
const bySeq = (a: StoredEntry, b: StoredEntry): number => (BigInt(a.seq) < BigInt(b.seq) ? -1 : BigInt(a.seq) > BigInt(b.seq) ? 1 : 0);

/** The last entry before `end` that has a hash. */
function lastChained(entries: readonly StoredEntry[], end: number): number | undefined {
  for (let i = end - 1; i >= 0; i -= 1) if (entries[i]!.hash !== null) return i;
  return undefined;
}

/** What is wrong with an entry's digests, and how many could not be checked. */
function checkDigests(e: StoredEntry): { wrong: string[]; erased: number } {
  const wrong: string[] = [];
  let erased = 0;
  const check = (what: string, value: unknown, digest: string | null, compute: (key: Uint8Array) => string, mayBeRedacted: boolean) => {
    if (value === null && digest === null) return;
    if (digest === null) return void wrong.push(`its ${what} has no digest`);
    if (e.key === null) return void (erased += 1);
    if (value === null) return void (mayBeRedacted || wrong.push(`its ${what} is gone`));
    if (compute(e.key) !== digest && !mayBeRedacted) wrong.push(`its ${what} is not the one its digest was made of`);
  };
  check('actor', e.actor, e.actorDigest, (key) => actorDigest(key, e.actor!), false);
  check('reason', e.reason, e.reasonDigest, (key) => reasonDigest(key, e.reason!), e.redacted);
  // Digests with no key named, or a key that does not match the id named: made by no trigger.
  if (e.key !== null && e.digestKey !== keyId(e.key)) wrong.push('its digests name another key');
  if (e.digestKey === null && (e.actorDigest !== null || e.reasonDigest !== null)) wrong.push('its digests name no key');
  return { wrong, erased };
}

/**
 * Verifies one request's history. The chain is followed back from the newest entry (the chain
 * cannot speak for the newest entries: see SECURITY.md): each entry's prev_hash must be the hash
 * of an entry before it, by seq. Entries the walk does not reach are INSERTED; a link to an entry
 * not there is REMOVED, and the walk goes on from the nearest entry before the gap. With
 * `startMayBeTrimmed` (a request that never came, whose oldest refused decisions retention
 * removes), a link missing before the oldest entry left is no problem.
 */
export function verifyChain(requestId: string, stored: readonly StoredEntry[], startMayBeTrimmed = false): ChainReport {
  const entries = [...stored].sort(bySeq);
  const problems: ChainProblem[] = [];
  const problem = (kind: ChainProblemKind, e: StoredEntry, detail: string, extra: Partial<ChainProblem> = {}) => problems.push({ kind, requestId, ...ref(e), detail, ...extra });
  let erasedDigests = 0;
  const recomputed = entries.map((e) => entryHash(e.prevHash, e));

  // Where each hash is, as stored and as recomputed: an entry whose hash column alone was changed is still the one its successor names.
  const at = new Map<string, number>();
  entries.forEach((e, i) => {
    for (const h of [e.hash, recomputed[i]!]) if (h !== null && !at.has(h)) at.set(h, i);
  });

  const onChain = new Set<number>();
  const removedBefore = new Map<number, { missingHash: string; after: number | undefined }>();
  let trimmed = false;
  const newest = lastChained(entries, entries.length);
  let cur: number | undefined = newest;
  while (cur !== undefined) {
    onChain.add(cur);
    const prev = entries[cur]!.prevHash;
    if (prev === null) break;
    const found = at.get(prev);
    if (found !== undefined && found < cur) {
      cur = found;
      continue;
    }
    const nearest = lastChained(entries, cur);
    if (nearest === undefined && startMayBeTrimmed) {
      trimmed = true;
      break;
    }
    removedBefore.set(cur, { missingHash: prev, after: nearest });
    cur = nearest;
  }

  entries.forEach((e, i) => {
    if (!onChain.has(i)) {
      problem('INSERTED', e, e.hash === null ? 'it has no hash: it was written past the trigger that chains every entry' : 'no later entry is chained to it: it was put between entries of the chain');
      return;
    }
    const gap = removedBefore.get(i);
    if (gap) {
      const after = gap.after === undefined ? null : ref(entries[gap.after]!);
      const where = after ? `between seq ${after.seq} and seq ${e.seq}` : `before seq ${e.seq}, the oldest left`;
      problem('REMOVED', e, `the entry it is chained to (hash ${gap.missingHash}) is not in the history: one or more entries ${where} were removed, or replaced`, { missingHash: gap.missingHash, after });
    }
    const wrong: string[] = [];
    if (e.hash !== recomputed[i]) wrong.push('its hash is not the hash of its facts (a fact, or the hash, was changed)');
    const digests = checkDigests(e);
    erasedDigests += digests.erased;
    wrong.push(...digests.wrong);
    if (wrong.length) problem('CHANGED', e, wrong.join('; '));
  });

  return {
    requestId,
    entries: entries.length,
    erasedDigests,
    redacted: entries.filter((e) => e.redacted).length,
    trimmed,
    head: newest === undefined ? null : entries[newest]!.hash,
    problems,
  };
}
