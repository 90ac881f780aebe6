// One person's data: found, exported (GDPR Article 15) and pseudonymised (Article 17) across every
// table. A person is found where a stored row holds them as a person (an object with their id or
// email address, in any jsonb column); their names are those such objects carry. Pseudonymising
// walks every text and jsonb column of every table the schema has, so a table added later is
// covered without a change here: a person object of theirs becomes the pseudonym, and their names
// and addresses in free text (history messages, reasons, stored answers) become its name and
// address.
import { isDeepStrictEqual } from 'node:util';
import type { DataSource, EntityManager } from 'typeorm';
import { isThePerson, type PersonIdentities } from '../domain/erase-person';
import type { Person } from '../domain/card-operation';
import type { PersonalDataRepository, PersonalDataTransaction } from '../domain/ports';
import { PgApprovalTransaction } from './approval-store';
import type { EventOutbox } from './event-outbox';

/** Text columns holding a person's id alone (no object around it): the API's callers. */
const PERSON_ID_COLUMNS = new Set(['idempotency_keys.caller_id']);
/**
 * What else changes with a column: a history entry whose reason is rewritten no longer matches the
 * reason's digest in the audit chain, and says why (the chain itself stays as it was).
 */
const ALSO_SET: Record<string, string> = { 'approval_history.reason': ', redacted_at = now()' };

const quoted = (name: string): string => `"${name.replace(/"/g, '""')}"`;
/** How a string shows inside stored JSON text, lower-cased (strpos finds it there). */
const asInJson = (s: string): string => JSON.stringify(s).slice(1, -1).toLowerCase();
const needlesOf = (values: string[]): string[] => [...new Set(values.flatMap((v) => [v.toLowerCase(), asInJson(v)]))];
const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Whether `expr` (jsonb) holds the person as a person: $1 their ids, $2 their emails, $3 both as
 * they show in JSON text (a cheap test that lets most rows skip the walk).
 */
const namesPerson = (expr: string): string => `(
  EXISTS (SELECT 1 FROM unnest($3::text[]) AS n WHERE strpos(lower(${expr}::text), n) > 0)
  AND EXISTS (SELECT 1 FROM jsonb_path_query(${expr}, 'strict $.**') AS p
    WHERE jsonb_typeof(p) = 'object' AND (lower(p->>'id') = ANY($1) OR lower(p->>'email') = ANY($2))))`;
const personParams = (person: Pick<PersonIdentities, 'ids' | 'emails'>) => [person.ids, person.emails, needlesOf([...person.ids, ...person.emails])];

interface Column {
  table: string;
  column: string;
  type: 'jsonb' | 'text';
}

/** Every text and jsonb column of the schema's tables (the migrations' own bookkeeping aside). */
async function columnsOf(db: EntityManager | DataSource): Promise<Column[]> {
  const rows: Array<{ table_name: string; column_name: string; data_type: string }> = await db.query(
    `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
     WHERE c.table_schema = current_schema() AND c.data_type IN ('text', 'jsonb', 'character varying') AND c.table_name <> 'migrations'
     ORDER BY c.table_name, c.ordinal_position`,
  );
  return rows.map((r) => ({ table: r.table_name, column: r.column_name, type: r.data_type === 'jsonb' ? 'jsonb' : 'text' }));
}

/**
 * How a stored value reads once `person` is `pseudonym`: their person objects become it (other
 * fields, such as a locale, stay), and their addresses, ids and names in any string become its own
 * (ids and names as whole words, in any case; addresses first, since one holds an id or a name).
 */
export function pseudonymising(person: PersonIdentities, pseudonym: Person) {
  /** `value` as a whole word: what stands around it is none of the characters such values are made of. */
  const word = (value: string, inside: string, after = `[${inside}]`) => new RegExp(`(?<![${inside}])${escapeRegExp(value)}(?!${after})`, 'giu');
  const replacements = [
    // An address may end a sentence: a full stop after it is no part of it.
    ...person.emails.map((e) => ({ pattern: word(e, '\\p{L}\\p{N}._%+@-', '[\\p{L}\\p{N}_%+@-]|\\.[\\p{L}\\p{N}]'), to: pseudonym.email })),
    ...person.ids.map((id) => ({ pattern: word(id, '\\p{L}\\p{N}_@-'), to: pseudonym.id })),
    ...person.names.filter((n) => n.trim() !== '').map((n) => ({ pattern: word(n, '\\p{L}\\p{N}_'), to: pseudonym.name })),
  ];
  const text = (s: string): string => replacements.reduce((acc, r) => acc.replace(r.pattern, r.to), s);
  const json = (value: unknown): unknown => {
    if (typeof value === 'string') return text(value);
    if (Array.isArray(value)) return value.map(json);
    if (value === null || typeof value !== 'object') return value;
    const object = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, json(v)]));
    const { id, email } = value as Record<string, unknown>;
    const theirs = typeof id === 'string' && typeof email === 'string' && isThePerson(person, { id, email });
    return theirs ? { ...object, id: pseudonym.id, name: pseudonym.name, email: pseudonym.email } : object;
  };
  /** A text column: JSON text (a stored answer) is walked as JSON; an id column holding their id becomes the pseudonym's. */
  const column = (value: string, holdsIds: boolean): string => {
    if (holdsIds && person.ids.includes(value.toLowerCase())) return pseudonym.id;
    if (/^\s*[[{]/.test(value)) {
      try {
        return JSON.stringify(json(JSON.parse(value)));
      } catch {
        // not JSON after all: plain text
      }
    }
    return text(value);
  };
  return { json, column };
}

/** Everything stored that names one person, by kind, as stored. */
export interface PersonalDataExport {
  person: PersonIdentities;
  records: unknown[];
  decisions: unknown[];
  history: unknown[];
  delegations: unknown[];
  emails: unknown[];
}

/** What an export gathers: each kind from its table, oldest first. */
const EXPORTED = {
  records: { table: 'approval_requests', order: 'opened_at' },
  decisions: { table: 'approval_decisions', order: 'received_at' },
  history: { table: 'approval_history', order: 'seq' },
  delegations: { table: 'approval_delegations', order: 'starts_at' },
  emails: { table: 'email_outbox', order: 'id' },
} as const;

class PgPersonalDataTransaction extends PgApprovalTransaction implements PersonalDataTransaction {
  async rowsNaming(person: PersonIdentities): Promise<Omit<PersonalDataExport, 'person'>> {
    const exported: Record<string, unknown[]> = {};
    for (const [kind, { table, order }] of Object.entries(EXPORTED)) {
      const rows: Array<{ row: unknown }> = await this.db.query(`SELECT to_jsonb(t) AS row FROM ${table} t WHERE ${namesPerson('to_jsonb(t)')} ORDER BY ${order}`, personParams(person));
      exported[kind] = rows.map((r) => r.row);
    }
    return exported as Omit<PersonalDataExport, 'person'>;
  }

  async identify(who: string): Promise<PersonIdentities | null> {
    const asked = who.trim().toLowerCase();
    const search = { ids: [asked], emails: [asked] };
    const found: PersonIdentities = { ids: [], emails: [], names: [] };
    const columns = (await columnsOf(this.db)).filter((c) => c.type === 'jsonb');
    // Each round looks for the ids and addresses found so far, until it finds none that is new.
    for (let round = 0; round < 5; round += 1) {
      const before = found.ids.length + found.emails.length + found.names.length;
      for (const { table, column } of columns) {
        const seen: Array<{ id: string | null; email: string | null; name: string | null }> = await this.db.query(
          `SELECT DISTINCT lower(p->>'id') AS id, lower(p->>'email') AS email, p->>'name' AS name
           FROM ${quoted(table)} AS t, jsonb_path_query(t.${quoted(column)}, 'strict $.**') AS p
           WHERE EXISTS (SELECT 1 FROM unnest($3::text[]) AS n WHERE strpos(lower(t.${quoted(column)}::text), n) > 0)
             AND jsonb_typeof(p) = 'object' AND (lower(p->>'id') = ANY($1) OR lower(p->>'email') = ANY($2))`,
          personParams(search),
        );
        for (const s of seen) {
          for (const [list, value] of [[found.ids, s.id], [found.emails, s.email], [found.names, s.name]] as const) if (value && !list.includes(value)) list.push(value);
        }
      }
      if (found.ids.length + found.emails.length + found.names.length === before) break;
      Object.assign(search, { ids: found.ids, emails: found.emails });
    }
    return found.ids.length + found.emails.length === 0 ? null : found;
  }

  async requestsNaming(person: PersonIdentities): Promise<string[]> {
    const rows: Array<{ request_id: string }> = await this.db.query(`SELECT request_id FROM approval_requests r WHERE ${namesPerson('to_jsonb(r)')}`, personParams(person));
    return rows.map((r) => r.request_id);
  }

  async pendingNaming(person: PersonIdentities): Promise<string[]> {
    const rows: Array<{ request_id: string }> = await this.db.query(`SELECT request_id FROM approval_requests r WHERE r.status = 'PENDING' AND ${namesPerson('to_jsonb(r)')}`, personParams(person));
    return rows.map((r) => r.request_id);
  }

  async nextPseudonym(): Promise<number> {
    const [row]: Array<{ n: string }> = await this.db.query(`SELECT nextval('erased_person_seq') AS n`);
    return Number(row!.n);
  }

  async pseudonymise(person: PersonIdentities, pseudonym: Person): Promise<{ rows: Record<string, number>; emailsDropped: number }> {
    // Emails to them not sent yet would go to an address that is no longer theirs to us.
    const [dropped]: Array<{ n: number }> = await this.db.query(
      `WITH dropped AS (DELETE FROM email_outbox WHERE status <> 'SENT' AND lower(recipient_email) = ANY($1) RETURNING 1) SELECT count(*)::int AS n FROM dropped`,
      [person.emails],
    );
    const rewrite = pseudonymising(person, pseudonym);
    const rows: Record<string, number> = {};
    // Their audit key goes: the chain's digests of them verify no more against anyone, and lead back to nobody.
    const [keys]: Array<{ n: number }> = await this.db.query(
      `WITH destroyed AS (DELETE FROM audit_person_keys WHERE person = ANY($1) RETURNING 1) SELECT count(*)::int AS n FROM destroyed`,
      [person.ids],
    );
    if (keys!.n > 0) rows['audit_person_keys.key'] = keys!.n;
    for (const { table, column, type } of await columnsOf(this.db)) {
      const name = `${table}.${column}`;
      const holdsIds = PERSON_ID_COLUMNS.has(name);
      const needles = needlesOf([...person.emails, ...person.names, ...person.ids]);
      const found: Array<{ at: string; value: unknown }> = await this.db.query(
        `SELECT ctid::text AS at, ${quoted(column)} AS value FROM ${quoted(table)}
         WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS n WHERE strpos(lower(${quoted(column)}::text), n) > 0) FOR UPDATE`,
        [needles],
      );
      const changed = found
        .map(({ at, value }) => ({ at, value, rewritten: type === 'jsonb' ? rewrite.json(value) : rewrite.column(value as string, holdsIds) }))
        .filter((r) => !isDeepStrictEqual(r.value, r.rewritten));
      if (changed.length === 0) continue;
      await this.db.query(
        `UPDATE ${quoted(table)} AS t SET ${quoted(column)} = v.value${ALSO_SET[name] ?? ''} FROM jsonb_to_recordset($1::jsonb) AS v(at text, value ${type}) WHERE t.ctid = v.at::tid`,
        [JSON.stringify(changed.map((r) => ({ at: r.at, value: r.rewritten })))],
      );
      rows[name] = changed.length;
    }
    return { rows, emailsDropped: dropped!.n };
  }
}

export class PersonalDataStore implements PersonalDataRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly events: Pick<EventOutbox, 'leaseMs'>,
    /** Named (prepared) statements for the hot queries (DATABASE_PREPARED_STATEMENTS). */
    private readonly prepared: boolean,
  ) {}

  inTransaction<T>(work: (tx: PersonalDataTransaction) => Promise<T>): Promise<T> {
    return this.dataSource.transaction((db) => work(new PgPersonalDataTransaction(db, this.events.leaseMs, this.prepared)));
  }

  /** Every record, decision, history entry, delegation and email naming `who`; null when nothing does. */
  exportOf(who: string): Promise<PersonalDataExport | null> {
    return this.dataSource.transaction(async (db) => {
      const tx = new PgPersonalDataTransaction(db, this.events.leaseMs, this.prepared);
      const person = await tx.identify(who);
      return person && { person, ...(await tx.rowsNaming(person)) };
    });
  }
}
