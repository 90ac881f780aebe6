import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexConcurrently } from './concurrent-index';

/** Requests chained per transaction when the history stored before this migration is chained. */
const CHAIN_BATCH = 200;

/**
 * An audit trail that can be verified (expand): each history entry carries the hash of the one
 * before it in its request's history (`prev_hash`, by seq) and its own (`hash`), a SHA-256 of its
 * facts; who acted and why enter only as keyed digests (HMAC-SHA256 under a key per person, in
 * audit_person_keys, made on first need), so an erasure that destroys the key leaves nothing to
 * read a person back from; the entry keeps the id of the key (digest_key, a hash of it). `audit
 * verify` (src/data-access/audit-trail.ts, src/domain/audit-chain.ts) recomputes every chain in
 * TypeScript.
 *
 * The database computes all of it as an entry is stored, in a BEFORE INSERT trigger on
 * approval_history, so the events of every version get it: the previous one, which knows nothing
 * of the chain, goes on inserting into approval_events during a rolling update, and the trigger
 * of 1765100000000 copies them here. The trigger takes the request's advisory lock (the key the
 * worker's lockRequests takes, so re-entrant for it): two transactions writing one request chain
 * one after the other. A bulk load of events by something that holds no lock beforehand takes one
 * per request in one transaction: more requests in a statement than the lock table holds (a few
 * thousand by default) fail, so such a load goes in chunks (as the bench's seed does). The trigger
 * needs nothing but row rights: it reads and writes approval_history and audit_person_keys, and
 * calls pgcrypto's hmac and gen_random_bytes (EXECUTE is PUBLIC). It costs Postgres about 50 to
 * 70 µs an entry.
 *
 * The history stored before this migration is chained by this migration too, after the trigger is
 * live: request by request in seq order, CHAIN_BATCH requests a short transaction (the table can
 * hold millions, and is written meanwhile; about 13,000 entries a second on two cores), each
 * request under its lock. A request whose newest entry is not chained yet when a new one comes is
 * chained by the trigger first, so its chain never starts again in the middle. A migration
 * interrupted part-way is run again from the start: what it already did is kept (IF NOT EXISTS),
 * and entries already chained are left as they are.
 *
 * Also: an index of the history by time, for the verification and the export `since` a date.
 */
export class AuditChain1765400000000 implements MigrationInterface {
  name = 'AuditChain1765400000000';
  transaction = false;

  async up(db: QueryRunner): Promise<void> {
    await db.query('CREATE EXTENSION IF NOT EXISTS pgcrypto');
    // Where pgcrypto is (created here in the first schema of the path, or before us anywhere): its functions are called by their full name.
    const [{ schema }] = (await db.query(`SELECT quote_ident(n.nspname) AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto'`)) as [{ schema: string }];
    await db.startTransaction();
    try {
      await db.query(`
        CREATE TABLE IF NOT EXISTS audit_person_keys (
          person     text PRIMARY KEY,
          key        bytea NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          key_id     text GENERATED ALWAYS AS (${KEY_ID('key')}) STORED UNIQUE
        )`);
      // Nullable, no default: no rewrite of the table.
      for (const column of ['digest_key text', 'actor_digest text', 'reason_digest text', 'prev_hash text', 'hash text', 'redacted_at timestamptz']) {
        await db.query(`ALTER TABLE approval_history ADD COLUMN IF NOT EXISTS ${column}`);
      }
      for (const statement of chainFunctions(schema)) await db.query(statement);
      await db.query('DROP TRIGGER IF EXISTS approval_history_chain ON approval_history');
      await db.query('CREATE TRIGGER approval_history_chain BEFORE INSERT ON approval_history FOR EACH ROW EXECUTE FUNCTION approval_history_chain()');
      await db.commitTransaction();
    } catch (error) {
      await db.rollbackTransaction();
      throw error;
    }

    // The history stored before: every request, by id, CHAIN_BATCH at a time.
    await db.query('SET lock_timeout = 0');
    try {
      for (let after = ''; ; ) {
        const ids = ((await db.query(`${NEXT_REQUESTS} LIMIT ${CHAIN_BATCH}`, [after])) as Array<{ request_id: string }>).map((r) => r.request_id);
        if (ids.length === 0) break;
        // A transaction of its own (the statement's), holding the requests' locks for as long as it takes.
        await db.query('SELECT approval_history_chain_requests($1::text[])', [ids]);
        after = ids.at(-1)!;
      }
    } finally {
      await db.query('RESET lock_timeout');
    }
    await createIndexConcurrently(db, 'approval_history_occurred_idx', 'approval_history (occurred_at, seq)');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP INDEX IF EXISTS approval_history_occurred_idx');
    await db.query('DROP TRIGGER IF EXISTS approval_history_chain ON approval_history');
    await db.query('DROP FUNCTION IF EXISTS approval_history_chain()');
    await db.query('DROP FUNCTION IF EXISTS approval_history_chain_requests(text[])');
    await db.query('DROP FUNCTION IF EXISTS audit_person_key(text)');
    for (const column of ['digest_key', 'actor_digest', 'reason_digest', 'prev_hash', 'hash', 'redacted_at']) await db.query(`ALTER TABLE approval_history DROP COLUMN IF EXISTS ${column}`);
    await db.query('DROP TABLE IF EXISTS audit_person_keys');
  }
}

/**
 * The request ids of the history after $1, in order: one probe of the request index per id (a
 * DISTINCT read every entry, or the whole table when its statistics were stale after a bulk load).
 */
const NEXT_REQUESTS = `WITH RECURSIVE ids AS (
    (SELECT request_id FROM approval_history WHERE request_id > $1 ORDER BY request_id LIMIT 1)
    UNION ALL
    SELECT (SELECT h.request_id FROM approval_history h WHERE h.request_id > ids.request_id ORDER BY h.request_id LIMIT 1) FROM ids WHERE ids.request_id IS NOT NULL)
  SELECT request_id FROM ids WHERE request_id IS NOT NULL`;

/**
 * The label that begins every hash's input: the encoding's version. An encoding changed later
 * gets a new label, and entries keep the one they were hashed with.
 */
export const AUDIT_CHAIN_LABEL = 'card-approvals/audit-chain/1';

/**
 * The key of what no person wrote (a reminder's, an escalation's reason): person '' is no
 * person's id (an id is never empty), so no erasure removes it.
 */
const SYSTEM_PERSON = '';

/** Whose key digests a history row `r`'s actor and reason: its actor's id in lower case, or the system's when it has no actor. */
const personOf = (r: string): string => `CASE WHEN jsonb_typeof(${r}.actor) = 'object' THEN lower(coalesce(${r}.actor->>'id', '')) ELSE '${SYSTEM_PERSON}' END`;

/**
 * A key's id: its SHA-256, which names the key and says nothing of it or of its person. An entry
 * keeps the id of the key its digests were made under (digest_key), so a key that is gone (an
 * erasure destroyed it) is told apart from an actor changed to someone else.
 */
export const KEY_ID = (key: string): string => `encode(sha256(${key}), 'hex')`;

/**
 * The facts of a history row `r` that its hash covers, in their order, each as text or NULL, and
 * named as src/domain/audit-chain.ts names them (a test holds the two orders equal): stated once
 * for the trigger and for the verification's read (audit-trail.ts), which hands them to the
 * TypeScript side as they are. The time is exact (to the microsecond, UTC); the decision enters by
 * its kind and id (what it says of people is in the actor's and reason's digests).
 */
export const CHAIN_FACTS: ReadonlyArray<readonly [name: string, sql: (r: string) => string]> = [
  ['seq', (r) => `${r}.seq::text`],
  ['eventId', (r) => `${r}.event_id`],
  ['requestId', (r) => `${r}.request_id`],
  ['type', (r) => `${r}.type`],
  ['statusBefore', (r) => `${r}.status_before`],
  ['statusAfter', (r) => `${r}.status_after`],
  ['decisionKind', (r) => `${r}.decision->>'decision'`],
  ['decisionId', (r) => `${r}.decision->>'decisionId'`],
  ['refusalCode', (r) => `${r}.refusal_code`],
  ['occurredAt', (r) => `to_char(${r}.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`],
  ['digestKey', (r) => `${r}.digest_key`],
  ['actorDigest', (r) => `${r}.actor_digest`],
  ['reasonDigest', (r) => `${r}.reason_digest`],
];

/**
 * A JSON array of text values, as JSON.stringify writes it: `["a",null,"b"]` (no spaces; strings
 * escaped as both escape them, which a test checks over hostile text).
 */
const jsonArray = (values: string[]): string => `'[' || concat_ws(',', ${values.map((v) => `coalesce(to_json((${v})::text)::text, 'null')`).join(', ')}) || ']'`;

const utf8 = (text: string): string => `convert_to(${text}, 'UTF8')`;

/**
 * What the chain is made of, in the database. The canonical encoding of an entry (the one
 * src/domain/audit-chain.ts writes the same way): the UTF-8 of the JSON array
 *   [AUDIT_CHAIN_LABEL, prev_hash, ...CHAIN_FACTS]
 * hashed with SHA-256, in lower-case hex; actor_digest is HMAC-SHA256 of the UTF-8 of the JSON
 * array ["actor", id, name, email] and reason_digest of ["reason", reason], under the key of
 * personOf, in lower-case hex; digest_key is that key's KEY_ID (NULL with neither digest).
 */
function chainFunctions(pgcrypto: string): string[] {
  /**
   * The plpgsql statements that give the row variable `row` its digests, its link to `prev` and
   * its hash (written out where they run, for the trigger and for the backfill: a function taking
   * and returning the row cost twice as much per entry). Needs `key_person text` and
   * `person_key bytea` declared.
   */
  const link = (row: string, prev: string): string => `
       ${row}.digest_key := NULL;
       ${row}.actor_digest := NULL;
       ${row}.reason_digest := NULL;
       IF jsonb_typeof(${row}.actor) = 'object' OR ${row}.reason IS NOT NULL THEN
         key_person := ${personOf(row)};
         SELECT key INTO person_key FROM audit_person_keys WHERE person = key_person;
         IF person_key IS NULL THEN person_key := audit_person_key(key_person); END IF;
         ${row}.digest_key := ${KEY_ID('person_key')};
         IF jsonb_typeof(${row}.actor) = 'object' THEN
           ${row}.actor_digest := encode(${pgcrypto}.hmac(${utf8(jsonArray([`'actor'`, `${row}.actor->>'id'`, `${row}.actor->>'name'`, `${row}.actor->>'email'`]))}, person_key, 'sha256'), 'hex');
         END IF;
         IF ${row}.reason IS NOT NULL THEN
           ${row}.reason_digest := encode(${pgcrypto}.hmac(${utf8(jsonArray([`'reason'`, `${row}.reason`]))}, person_key, 'sha256'), 'hex');
         END IF;
       END IF;
       ${row}.prev_hash := ${prev};
       ${row}.hash := encode(sha256(${utf8(jsonArray([`'${AUDIT_CHAIN_LABEL}'`, `${row}.prev_hash`, ...CHAIN_FACTS.map(([, fact]) => fact(row))]))}), 'hex');`;
  return [
    // A person's key, made on first need; two transactions making the same one agree (the second waits for the first, then reads its key).
    `CREATE OR REPLACE FUNCTION audit_person_key(for_person text) RETURNS bytea LANGUAGE plpgsql AS $$
     DECLARE
       found_key bytea;
     BEGIN
       SELECT key INTO found_key FROM audit_person_keys WHERE person = for_person;
       IF found_key IS NULL THEN
         INSERT INTO audit_person_keys (person, key) VALUES (for_person, ${pgcrypto}.gen_random_bytes(32)) ON CONFLICT (person) DO NOTHING;
         SELECT key INTO found_key FROM audit_person_keys WHERE person = for_person;
       END IF;
       RETURN found_key;
     END $$`,
    // Chains the entries of these requests not chained yet (stored before this migration), each request in seq order, under their locks
    // (taken in the worker's order, by key); one UPDATE for all. How many it chained.
    `CREATE OR REPLACE FUNCTION approval_history_chain_requests(for_requests text[]) RETURNS integer LANGUAGE plpgsql AS $$
     DECLARE
       entry approval_history;
       key_person text;
       person_key bytea;
       tip text;
       tip_request text;
       seqs bigint[] := '{}';
       digest_keys text[] := '{}';
       actor_digests text[] := '{}';
       reason_digests text[] := '{}';
       prev_hashes text[] := '{}';
       hashes text[] := '{}';
     BEGIN
       PERFORM pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(id, 0) AS k FROM unnest(for_requests) AS id ORDER BY k) AS ordered;
       FOR entry IN SELECT * FROM approval_history WHERE request_id = ANY(for_requests) ORDER BY request_id, seq LOOP
         IF tip_request IS DISTINCT FROM entry.request_id THEN
           tip_request := entry.request_id;
           tip := NULL;
         END IF;
         IF entry.hash IS NULL THEN${link('entry', 'tip')}
           seqs := seqs || entry.seq;
           digest_keys := digest_keys || entry.digest_key;
           actor_digests := actor_digests || entry.actor_digest;
           reason_digests := reason_digests || entry.reason_digest;
           prev_hashes := prev_hashes || entry.prev_hash;
           hashes := hashes || entry.hash;
         END IF;
         tip := entry.hash;
       END LOOP;
       UPDATE approval_history h SET digest_key = u.digest_key, actor_digest = u.actor_digest, reason_digest = u.reason_digest, prev_hash = u.prev_hash, hash = u.hash
         FROM unnest(seqs, digest_keys, actor_digests, reason_digests, prev_hashes, hashes) AS u(seq, digest_key, actor_digest, reason_digest, prev_hash, hash)
         WHERE h.seq = u.seq;
       RETURN cardinality(seqs);
     END $$`,
    // Every entry stored: linked to its request's newest (by seq), whoever writes it.
    `CREATE OR REPLACE FUNCTION approval_history_chain() RETURNS trigger LANGUAGE plpgsql AS $$
     DECLARE
       head_seq bigint;
       head_hash text;
       key_person text;
       person_key bytea;
     BEGIN
       PERFORM pg_advisory_xact_lock(hashtextextended(NEW.request_id, 0));
       SELECT seq, hash INTO head_seq, head_hash FROM approval_history WHERE request_id = NEW.request_id ORDER BY seq DESC LIMIT 1;
       IF head_seq IS NOT NULL AND head_hash IS NULL THEN
         PERFORM approval_history_chain_requests(ARRAY[NEW.request_id]);
         SELECT hash INTO head_hash FROM approval_history WHERE request_id = NEW.request_id ORDER BY seq DESC LIMIT 1;
       END IF;${link('NEW', 'head_hash')}
       RETURN NEW;
     END $$`,
  ];
}
