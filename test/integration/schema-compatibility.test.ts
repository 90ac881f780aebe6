// The contract evolves only in the direction each topic needs, checked against every released
// version twice: by avsc's resolver, and by the real registry's compatibility endpoint under the
// level the worker gives each subject. A deliberately incompatible change is refused by both.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import avro from 'avsc';
import { AvroCodec, SUBJECT_COMPATIBILITY, readSchema, type SchemaName } from '../../src/adapters/schema-registry/avro-codec';
import { loadConfig } from '../../src/libraries/config';
import { WITHHELD, eventWithIdsOnly } from '../../src/entry-points/relays/event-personal-data';
import type { ApprovalEvent } from '../../src/domain/approval';
import { aCard, aPerson } from '../support/builders';
import { deleteSubjects } from '../support/topics';

type Schema = Record<string, unknown>;
const RELEASED = path.join(__dirname, '..', '..', 'schemas', 'released');
const NAMES = Object.keys(SUBJECT_COMPATIBILITY) as SchemaName[];
const releases = fs.readdirSync(RELEASED).sort();
const released = (version: string, name: SchemaName): Schema => JSON.parse(fs.readFileSync(path.join(RELEASED, version, `${name}.avsc`), 'utf8')) as Schema;

const registryUrl = loadConfig().schemaRegistryUrl;
const codec = new AvroCodec(registryUrl);
const subjects: string[] = [];
afterAll(() => deleteSubjects(registryUrl, subjects.map((s) => s.replace(/-value$/, ''))));

/** Whether a reader of `reader` reads what `writer` wrote, by avsc. */
const reads = (reader: Schema, writer: Schema): boolean => {
  try {
    avro.Type.forSchema(reader as avro.Schema).createResolver(avro.Type.forSchema(writer as avro.Schema));
    return true;
  } catch {
    return false;
  }
};

/** avsc's verdict on `next` after `before`, in the direction the subject keeps. */
const avscAccepts = (name: SchemaName, before: Schema, next: Schema): boolean =>
  reads(next, before) && (SUBJECT_COMPATIBILITY[name] === 'BACKWARD' || reads(before, next));

/** The registry's verdict on `next` for a subject holding `before`, at the worker's level. */
async function registryAccepts(name: SchemaName, before: Schema, next: Schema): Promise<boolean> {
  const subject = `compat-${randomUUID().slice(0, 8)}.${name}-value`;
  subjects.push(subject);
  await codec.register(subject, name, before);
  const res = await fetch(`${registryUrl}/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schema: JSON.stringify(next) }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { is_compatible: boolean }).is_compatible;
}

test('there is a released version to keep to', () => {
  expect(releases).toContain('v1');
});

describe.each(releases)('against released %s', (version) => {
  test.each(NAMES)('when %s is checked, then the current schema keeps its subject compatible, by avsc and by the registry', async (name) => {
    const [before, now] = [released(version, name), readSchema(name)];
    expect({ name, avsc: avscAccepts(name, before, now), registry: await registryAccepts(name, before, now) }).toEqual({ name, avsc: true, registry: true });
  });
});

/** Changes no contract may make, each against the level its subject keeps. */
const breaking: Array<[string, SchemaName, (schema: Schema) => Schema]> = [
  ['a request field every writer must now send', 'card-operation-request', (s) => ({ ...s, fields: [...(s.fields as Schema[]), { name: 'tenant', type: 'string' }] })],
  ['an event field old readers need, removed', 'approval-event', (s) => ({ ...s, fields: (s.fields as Schema[]).filter((f) => f.name !== 'eventId') })],
  ['an event field our tools need, added without a default', 'approval-event', (s) => ({ ...s, fields: [...(s.fields as Schema[]), { name: 'tenant', type: 'string' }] })],
];

test.each(breaking)('when the contract changes by %s, then avsc and the registry both refuse it, and the worker will not register it', async (_, name, change) => {
  const before = released('v1', name);
  const bad = change(readSchema(name));
  expect({ avsc: avscAccepts(name, before, bad), registry: await registryAccepts(name, before, bad) }).toEqual({ avsc: false, registry: false });
  const subject = subjects[subjects.length - 1]!;
  await expect(codec.register(subject, name, bad)).rejects.toMatchObject({ code: 'SCHEMA_INCOMPATIBLE', retriable: false });
});

test('when an old reader meets an event type or status added since, then it reads UNKNOWN, the enum default', () => {
  const [v1, now] = [avro.Type.forSchema(released('v1', 'approval-event') as avro.Schema), avro.Type.forSchema(readSchema('approval-event') as avro.Schema)];
  const written = now.toBuffer({ eventId: 'e', type: 'EXPIRED', requestId: 'r', operation: 'LOCK_CARD', status: 'EXPIRED', occurredAt: 1, requester: null, cards: [], description: null, approvers: [], decision: null, refusalCode: null, message: null });
  expect(v1.fromBuffer(written, v1.createResolver(now))).toMatchObject({ type: 'UNKNOWN', status: 'UNKNOWN', operation: 'LOCK_CARD' });
});

test('when the worker publishes ids only, then a reader on every released schema reads the event: the ids, and the placeholder where names and addresses were', async () => {
  const now = avro.Type.forSchema(readSchema('approval-event') as avro.Schema);
  const [requester, holder, approver] = [aPerson('requester'), aPerson('holder'), aPerson('approver')];
  const event: ApprovalEvent = {
    eventId: 'e-1', type: 'REJECTED', requestId: 'r-1', operation: 'LOCK_CARD', status: 'REJECTED', occurredAt: 1, requester, cards: [aCard(holder)],
    description: `For ${holder.name}`, approvers: [approver], requestedAt: 1, dueAt: null,
    decision: { decisionId: 'd-1', decision: 'REJECTED', approver, reason: `${holder.name} left`, decidedAt: 1, actingAs: 'APPROVER', onBehalfOf: null, reassign: null },
    refusalCode: null, message: null, progress: null, cardResults: [],
  };
  // Encoded as the worker encodes it: through the registry, under the events subject's FULL level.
  const subject = `compat-${randomUUID().slice(0, 8)}.approval-event-value`;
  subjects.push(subject);
  const written = (await codec.encode(await codec.register(subject, 'approval-event'), eventWithIdsOnly(now)(event))).subarray(5);
  for (const version of releases) {
    const reader = avro.Type.forSchema(released(version, 'approval-event') as avro.Schema);
    const read = reader.fromBuffer(written, reader.createResolver(now)) as ApprovalEvent;
    expect({ version, read }).toMatchObject({
      version,
      read: {
        requester: { id: requester.id, name: WITHHELD, email: WITHHELD },
        cards: [{ holder: { id: holder.id, name: WITHHELD, email: WITHHELD } }],
        approvers: [{ id: approver.id, name: WITHHELD, email: WITHHELD }],
        decision: { approver: { id: approver.id, name: WITHHELD, email: WITHHELD }, reason: null },
        description: null,
      },
    });
    expect(JSON.stringify(read)).not.toContain(holder.name);
  }
});
