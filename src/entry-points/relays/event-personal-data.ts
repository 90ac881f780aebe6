// What an event carries of people when it leaves on the events topic. With
// EVENT_PERSONAL_DATA=ids, every person in the event keeps their id, and their name and email
// read WITHHELD; text people wrote (a description, a decision's or a card's reason) is null; the
// worker's own message names people by id. The outbox keeps the whole event, which the emails and
// the history need: only the copy that is encoded for Kafka changes.
//
// People are found by walking the event's Avro type, not by a list of fields: any record with
// string fields id, name and email is a person, wherever the schema puts it. Every other string
// field must be classified below; a field that is not stops the mapping from being made, so a
// field added to the schema cannot carry a name out unnoticed.
import type { Type, types } from 'avsc';
import type { ApprovalEvent } from '../../domain/approval';
import type { Person } from '../../domain/card-operation';

/** What a person's name and email read in ids mode. Never a real value: a name is never blank, and an address never lacks its @. */
export const WITHHELD = '';

/** What stands in a message for a name or address that cannot be told apart by one person's id. */
export const WITHHELD_IN_TEXT = '[withheld]';

/** Text people write, which may name anyone: null in ids mode. Keys are `<record full name>.<field>`. */
export const FREE_TEXT_FIELDS: ReadonlySet<string> = new Set(['cardapproval.ApprovalEvent.description', 'cardapproval.DecisionDetails.reason', 'cardapproval.CardOutcome.reason']);

/** The worker's own lines, which name only people the event carries: they name them by id in ids mode. */
export const NAMING_TEXT_FIELDS: ReadonlySet<string> = new Set(['cardapproval.ApprovalEvent.message']);

/** Strings that carry no one's name or address: ids, codes, card facts, a configured stage's name, a person's language (a person's id is kept as it is). */
export const NO_PERSONAL_DATA_FIELDS: ReadonlySet<string> = new Set([
  'cardapproval.ApprovalEvent.eventId',
  'cardapproval.ApprovalEvent.requestId',
  'cardapproval.ApprovalEvent.refusalCode',
  'cardapproval.Person.locale',
  'cardapproval.Card.cardId',
  'cardapproval.Card.cardType',
  'cardapproval.Card.serialNumber',
  'cardapproval.Card.status',
  'cardapproval.DecisionDetails.decisionId',
  'cardapproval.VoteProgress.stageName',
]);

interface Walk {
  /** The people met so far (as they were), whom a message may name. */
  people: Person[];
  /** Messages are rewritten once every person of the event is known. */
  later: Array<() => void>;
}
type Step = (value: unknown, walk: Walk) => unknown;

const identity: Step = (value) => value;
const PERSON_FIELDS = ['id', 'name', 'email'] as const;

/** Whether values of `type` are strings, or hold strings not inside a record (a union, an array or a map of them). */
function holdsStrings(type: Type): boolean {
  switch (type.typeName) {
    case 'string':
      return true;
    case 'union:unwrapped':
    case 'union:wrapped':
      return (type as types.UnwrappedUnionType).types.some(holdsStrings);
    case 'array':
      return holdsStrings((type as types.ArrayType).itemsType);
    case 'map':
      return holdsStrings((type as types.MapType).valuesType as Type);
    default:
      return false;
  }
}

const isPerson = (record: types.RecordType): boolean =>
  PERSON_FIELDS.every((name) => record.fields.some((f) => f.name === name && f.type.typeName === 'string'));

/** The value of a text field that names people by id instead of by name or address. */
export function namingById(text: string, people: readonly Person[]): string {
  const byTerm = new Map<string, string>();
  const note = (term: string, id: string): void => {
    if (term === '') return; // already withheld
    const key = term.toLowerCase();
    const known = byTerm.get(key);
    byTerm.set(key, known === undefined || known === id ? id : WITHHELD_IN_TEXT);
  };
  // Ids are terms too, standing for themselves: a name inside an id the text shows ("anna" in
  // "anna-1") is then not replaced, since the longer term matches first.
  for (const p of people) for (const term of [p.id, p.name, p.email]) note(term, p.id);
  for (const p of people) byTerm.set(p.id.toLowerCase(), p.id);
  const terms = [...byTerm.keys()].sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const named = terms.length === 0 ? text : text.replace(new RegExp(terms.join('|'), 'giu'), (found) => byTerm.get(found.toLowerCase()) ?? WITHHELD_IN_TEXT);
  // An address of someone the event does not carry would be a defect of ours; it does not go out either.
  return named.replace(/[^\s@<>()",;:\\]+@[^\s@<>()",;:\\]+\.[^\s@<>()",;:\\]+/g, WITHHELD_IN_TEXT);
}

/**
 * The mapping of values of `type` to what ids mode publishes. Throws (a defect of ours, found by
 * the unit tests) when the schema has a string field not classified above, a free-text field
 * that cannot be null, or a wrapped union.
 */
function compile(type: Type, records = new Map<string, Step>()): Step {
  switch (type.typeName) {
    case 'record':
      return compileRecord(type as types.RecordType, records);
    case 'array': {
      const item = compile((type as types.ArrayType).itemsType, records);
      return (value, walk) => (value as unknown[]).map((v) => item(v, walk));
    }
    case 'map': {
      const entry = compile((type as types.MapType).valuesType as Type, records);
      return (value, walk) => Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, entry(v, walk)]));
    }
    case 'union:unwrapped': {
      const branches = (type as types.UnwrappedUnionType).types.filter((t) => t.typeName !== 'null').map((t) => ({ type: t, step: compile(t, records) }));
      return (value, walk) => {
        if (value === null || value === undefined) return value;
        const branch = branches.length === 1 ? branches[0] : branches.find((b) => b.type.isValid(value));
        return branch ? branch.step(value, walk) : value;
      };
    }
    case 'union:wrapped':
      throw new Error('event-personal-data: wrapped unions are not mapped; the codec reads unions unwrapped');
    default:
      return identity;
  }
}

function compileRecord(record: types.RecordType, records: Map<string, Step>): Step {
  const known = records.get(record.name!);
  if (known) return known;
  // A reference to itself (a recursive record) finds this entry before its steps are made.
  let step: Step = identity;
  records.set(record.name!, (value, walk) => step(value, walk));
  const person = isPerson(record);
  const fields = record.fields.map((field) => {
    const at = `${record.name}.${field.name}`;
    if (person && (field.name === 'name' || field.name === 'email')) return { name: field.name, step: (() => WITHHELD) as Step, naming: false };
    if (person && field.name === 'id') return { name: field.name, step: identity, naming: false }; // what ids mode keeps
    if (holdsStrings(field.type)) {
      if (FREE_TEXT_FIELDS.has(at)) {
        if (!field.type.isValid(null)) throw new Error(`event-personal-data: free-text field ${at} cannot be null`);
        return { name: field.name, step: (() => null) as Step, naming: false };
      }
      if (NAMING_TEXT_FIELDS.has(at)) return { name: field.name, step: identity, naming: true };
      if (!NO_PERSONAL_DATA_FIELDS.has(at)) throw new Error(`event-personal-data: string field ${at} is not classified: say whether it is free text, names people, or carries no personal data`);
    }
    return { name: field.name, step: compile(field.type, records), naming: false };
  });
  step = (value, walk) => {
    const source = value as Record<string, unknown>;
    if (person) walk.people.push(source as unknown as Person);
    const out: Record<string, unknown> = { ...source };
    for (const f of fields) {
      if (!(f.name in source)) continue;
      out[f.name] = f.step(source[f.name], walk);
      if (f.naming && typeof out[f.name] === 'string') walk.later.push(() => void (out[f.name] = namingById(out[f.name] as string, walk.people)));
    }
    return out;
  };
  return records.get(record.name!)!;
}

/** The event as ids mode publishes it, for the events schema `type`: people by id only, their own words left out. */
export function eventWithIdsOnly(type: Type): (event: ApprovalEvent) => ApprovalEvent {
  const step = compile(type);
  return (event) => {
    const walk: Walk = { people: [], later: [] };
    const mapped = step(event, walk) as ApprovalEvent;
    for (const rewrite of walk.later) rewrite();
    return mapped;
  };
}
