// What ids mode (EVENT_PERSONAL_DATA=ids) publishes of people, as a pure mapping over the events
// schema: events the domain makes naming many people (holders, approvers, a delegate, a
// reassignment, an escalation group, an ambiguous approver) go out with ids only; the schema
// itself is walked, so a person anywhere in it is covered and an unclassified string is refused.
import fs from 'node:fs';
import path from 'node:path';
import avro from 'avsc';
import { readSchema } from '../../src/adapters/schema-registry/avro-codec';
import type { ApprovalEvent, ApprovalRecord } from '../../src/domain/approval';
import { ANY_RULE } from '../../src/domain/approval-policy';
import { DEFAULT_TIMER_POLICIES, fireTimers, type TimerPolicy } from '../../src/domain/approval-timers';
import { DEFAULT_CARD_CONFLICT_POLICY } from '../../src/domain/card-conflicts';
import type { CardOperationRequest, Person } from '../../src/domain/card-operation';
import { decideBatch, type BatchRules, type BatchState, type InboundMessage } from '../../src/domain/decide-batch';
import { WITHHELD, WITHHELD_IN_TEXT, eventWithIdsOnly, namingById } from '../../src/entry-points/relays/event-personal-data';
import { aCard, aDecision, aPerson, aRequest } from '../support/builders';

const NOW = Date.UTC(2026, 11, 3, 12);
const RULES: BatchRules = { messageIdDomain: 'x.test', cardConflictPolicy: DEFAULT_CARD_CONFLICT_POLICY, timerPolicies: DEFAULT_TIMER_POLICIES };
const empty = (): BatchState => ({ records: new Map(), knownDecisionIds: new Set(), awaiting: new Map(), cardHolders: new Map(), delegations: [] });
const req = (request: CardOperationRequest): InboundMessage => ({ kind: 'request', request, stages: [{ name: 'approval', rule: ANY_RULE, approvers: request.approvers }] });
const dec = (d: ReturnType<typeof aDecision>): InboundMessage => ({ kind: 'decision', decision: d });

const eventType = avro.Type.forSchema(readSchema('approval-event') as avro.Schema);
const idsOnly = eventWithIdsOnly(eventType);

/** Every id, name and address of `people`, as the test looks for them. */
const namesAndAddresses = (people: Person[]): string[] => people.flatMap((p) => [p.name, p.email]);

/** Requests naming many people, with the events the domain makes of them. */
function scenario(): { people: Person[]; events: ApprovalEvent[] } {
  const requester = aPerson('requester');
  const holders = [aPerson('holder'), aPerson('holder'), aPerson('holder')];
  const approvers = [aPerson('approver'), aPerson('approver'), aPerson('approver')];
  const delegate = aPerson('delegate');
  const successor = aPerson('successor');
  const operator = aPerson('operator');
  const escalation = [aPerson('escalation'), aPerson('escalation')];
  const request = (operation: 'LOCK_CARD' | 'REQUEST_MULTIPLE_CARDS' = 'LOCK_CARD') =>
    aRequest(operation, {
      requester,
      approvers,
      cards: operation === 'LOCK_CARD' ? [aCard(holders[0]!)] : holders.map((h) => aCard(h)),
      description: `Lock it for ${holders[0]!.name} <${holders[0]!.email}>, says ${requester.name}`,
    });
  const [rejected, delegated, reassigned, withdrawn, ambiguous, perCard] = [request(), request(), request(), request(), request(), request('REQUEST_MULTIPLE_CARDS')];
  const state = { ...empty(), delegations: [{ delegationId: 'dl-1', approver: approvers[1]!, delegate, startsAt: NOW - 1000, endsAt: NOW + 86_400_000 }] };
  const outcome = decideBatch(
    state,
    [
      ...[rejected, delegated, reassigned, withdrawn, ambiguous, perCard].map(req),
      dec(aDecision(rejected, 'REJECTED', { approver: approvers[0]!, reason: `${holders[0]!.name} left; ask ${approvers[2]!.email}` })),
      dec(aDecision(delegated, 'APPROVED', { approver: delegate })),
      dec(aDecision(reassigned, 'REASSIGNED', { approver: operator, actingAs: 'OPERATOR', reassign: { from: approvers[0]!, to: successor } })),
      dec(aDecision(withdrawn, 'WITHDRAWN', { approver: operator, actingAs: 'OPERATOR' })),
      // An id of one approver and the address of another: refused, the message naming that address.
      dec(aDecision(ambiguous, 'APPROVED', { approver: { ...approvers[0]!, email: approvers[1]!.email } })),
      dec(aDecision(perCard, 'APPROVED', { approver: approvers[2]!, cardOutcomes: [{ cardIndex: 1, outcome: 'REJECTED', reason: `Not for ${holders[1]!.name}` }] })),
    ],
    NOW,
    RULES,
  );
  const pending = outcome.opened.find((r) => r.requestId === reassigned.requestId)!;
  const policy: TimerPolicy = { remindAfterMs: null, remindIntervalMaxMs: 1, escalateAfterMs: 1000, escalateTo: escalation, expireAfterMs: null };
  const fired = fireTimers(pending as ApprovalRecord, { requestId: pending.requestId, remindAt: null, reminders: 0, escalateAt: NOW, expireAt: null }, NOW + 1, policy, 'x.test');
  const events = [...outcome.transitions, ...fired.transitions].map((t) => t.event);
  return { people: [requester, ...holders, ...approvers, delegate, successor, operator, ...escalation], events };
}

describe('an event in ids mode', () => {
  const { people, events } = scenario();
  const types = events.map((e) => e.type);

  test('the scenario makes the events that name people: a request, a rejection, a delegate\'s approval, a reassignment, a withdrawal, a refusal, per-card results and an escalation', () => {
    expect(types).toEqual(expect.arrayContaining(['OPENED', 'REJECTED', 'APPROVED', 'REASSIGNED', 'CANCELLED', 'DECISION_REFUSED', 'PARTIALLY_APPROVED', 'ESCALATED']));
    // The domain's own text names them: what ids mode must not let out.
    const text = JSON.stringify(events);
    for (const term of namesAndAddresses(people)) expect(text).toContain(term);
  });

  test.each(events.map((e) => [e.type, e] as const))('%s carries no name or address of anyone, and still fits the schema', (_, event) => {
    const mapped = idsOnly(event);
    expect(eventType.isValid(mapped)).toBe(true);
    const text = JSON.stringify(mapped);
    for (const term of namesAndAddresses(people)) expect(text).not.toContain(term);
    expect(text).not.toMatch(/@example\.com/);
    // Decoded from what is encoded, the same.
    expect(eventType.fromBuffer(eventType.toBuffer(mapped))).toEqual(mapped);
  });

  test.each(events.map((e) => [e.type, e] as const))('%s keeps every id where it was, and everything that names nobody', (_, event) => {
    const mapped = idsOnly(event);
    const ids = (e: ApprovalEvent) => ({
      requester: e.requester?.id,
      holders: e.cards.map((c) => c.holder.id),
      approvers: e.approvers.map((p) => p.id),
      decision: e.decision && [e.decision.approver.id, e.decision.onBehalfOf?.id, e.decision.reassign?.from.id, e.decision.reassign?.to.id],
    });
    expect(ids(mapped)).toEqual(ids(event));
    const persons = [mapped.requester, ...mapped.cards.map((c) => c.holder), ...mapped.approvers, mapped.decision?.approver, mapped.decision?.onBehalfOf, mapped.decision?.reassign?.from, mapped.decision?.reassign?.to];
    for (const p of persons.filter((x): x is Person => x != null)) expect([p.name, p.email]).toEqual([WITHHELD, WITHHELD]);
    const rest = (e: ApprovalEvent) => ({
      ...e,
      requester: null,
      approvers: [],
      description: null,
      message: null,
      cards: e.cards.map((c) => ({ ...c, holder: null })),
      decision: e.decision && { ...e.decision, approver: null, onBehalfOf: null, reassign: null, reason: null },
      cardResults: e.cardResults.map((c) => ({ ...c, reason: null })),
    });
    expect(rest(mapped)).toEqual(rest(event));
    // What people wrote is left out; the worker's message names people by id.
    expect([mapped.description, mapped.decision?.reason ?? null, ...mapped.cardResults.map((c) => c.reason)].every((t) => t === null)).toBe(true);
  });

  test('the message names people by id: a reassignment, a delegate, an escalation, a refusal naming an address', () => {
    const byType = Object.fromEntries(events.map((e) => [e.type, idsOnly(e)]));
    const reassigned = byType.REASSIGNED!.decision!;
    expect(byType.REASSIGNED!.message).toBe(`Reassigned from ${reassigned.reassign!.from.id} (${reassigned.reassign!.from.id}) to ${reassigned.reassign!.to.id} (${reassigned.reassign!.to.id}) by ${reassigned.approver.id}.`);
    const approved = byType.APPROVED!.decision!;
    expect(byType.APPROVED!.message).toBe(`${approved.approver.id} (${approved.approver.id}) decided for ${approved.onBehalfOf!.id} (${approved.onBehalfOf!.id}) as their delegate.`);
    expect(byType.ESCALATED!.message).toMatch(/^Escalated: also offered to escalation-\S+, escalation-\S+\.$/);
    // The address is two people's of the event (the approver's as sent, and another's): it stands for neither.
    expect(byType.DECISION_REFUSED!.message).toBe(`${byType.DECISION_REFUSED!.decision!.approver.id} (${WITHHELD_IN_TEXT}) matches more than one approver by id or email; decide under one identity.`);
    expect(byType.CANCELLED!.message).toBe(`Withdrawn by ${byType.CANCELLED!.decision!.approver.id} (operator).`);
  });

  test('the outbox\'s event is left as it was, and mapping twice changes nothing more', () => {
    const event = events.find((e) => e.type === 'REASSIGNED')!;
    const before = structuredClone(event);
    const once = idsOnly(event);
    expect(event).toEqual(before);
    expect(idsOnly(once)).toEqual(once);
  });
});

describe('the mapping follows the schema', () => {
  type Schema = { fields: Array<Record<string, unknown>> } & Record<string, unknown>;
  const schema = readSchema('approval-event') as Schema;
  const withField = (field: Record<string, unknown>): avro.Type => avro.Type.forSchema({ ...schema, fields: [...schema.fields, field] } as avro.Schema);

  test('when a record of another name has an id, a name and an email, then it is a person too, without a line of code', () => {
    const type = withField({ name: 'witness', type: ['null', { type: 'record', name: 'Contact', fields: [{ name: 'id', type: 'string' }, { name: 'name', type: 'string' }, { name: 'email', type: 'string' }] }], default: null });
    const event = { ...scenario().events[0]!, witness: { id: 'w-1', name: 'Wanda Witness', email: 'wanda@example.com' } };
    expect((eventWithIdsOnly(type)(event) as unknown as { witness: unknown }).witness).toEqual({ id: 'w-1', name: WITHHELD, email: WITHHELD });
  });

  test('when a string field is added without saying what it carries, then no mapping is made', () => {
    expect(() => eventWithIdsOnly(withField({ name: 'comment', type: ['null', 'string'], default: null }))).toThrow(/cardapproval\.ApprovalEvent\.comment is not classified/);
    const person = JSON.parse(JSON.stringify(schema).replace('"name":"locale"', '"name":"phone"')) as avro.Schema;
    expect(() => eventWithIdsOnly(avro.Type.forSchema(person))).toThrow(/cardapproval\.Person\.phone is not classified/);
  });

  test('the released v1 schema maps too (its fields are a subset)', () => {
    const v1 = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'schemas', 'released', 'v1', 'approval-event.avsc'), 'utf8')) as avro.Schema;
    expect(() => eventWithIdsOnly(avro.Type.forSchema(v1))).not.toThrow();
  });

  test('the schema states the placeholder exactly, where a consumer reads a person\'s name and email', () => {
    const find = (node: unknown): { fields: Array<{ name: string; doc?: string }> } | undefined => {
      if (node === null || typeof node !== 'object') return undefined;
      if ((node as { name?: unknown }).name === 'Person' && 'fields' in node) return node as { fields: Array<{ name: string; doc?: string }> };
      for (const child of Object.values(node)) {
        const found = find(child);
        if (found) return found;
      }
      return undefined;
    };
    const { fields } = find(schema)!;
    for (const name of ['name', 'email']) expect(fields.find((f) => f.name === name)?.doc).toContain(`EVENT_PERSONAL_DATA=ids: ${JSON.stringify(WITHHELD)}`);
  });
});

describe('a message naming people by id', () => {
  const anna = { id: 'anna-1', name: 'Anna', email: 'anna@corp.example', locale: null };
  const bo = { id: 'b-2', name: 'Bo Berg', email: 'bo@corp.example', locale: null };

  test('a name inside an id the text shows is not touched; case does not hide a name', () => {
    expect(namingById('Anna (anna-1) asked ANNA and bo berg <bo@corp.example>.', [anna, bo])).toBe('anna-1 (anna-1) asked anna-1 and b-2 <b-2>.');
  });

  test('a name two people share, and an address of nobody in the event, are withheld', () => {
    const other = { ...anna, id: 'anna-2', email: 'anna2@corp.example' };
    expect(namingById('Anna, and stranger@else.example', [anna, other])).toBe(`${WITHHELD_IN_TEXT}, and ${WITHHELD_IN_TEXT}`);
  });

  test('characters a regular expression would read are plain text', () => {
    const odd = { id: 'o-1', name: 'O.(K)+ [x]*', email: 'o+k@corp.example', locale: null };
    expect(namingById('by O.(K)+ [x]* and OaKK x', [odd])).toBe('by o-1 and OaKK x');
  });
});
