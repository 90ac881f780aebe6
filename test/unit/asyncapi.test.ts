// The Kafka contract (AsyncAPI 3) is checked by the maintained AsyncAPI parser, with its Avro
// schema parser following the document's references into schemas/, and against the code it
// describes: the configured topics, the dead-letter headers and reasons, the event types, decision
// kinds and statuses.
import fs from 'node:fs';
import path from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import type { AsyncAPIDocumentInterface } from '@asyncapi/parser';
import { AVRO_SCHEMAS, DEAD_LETTER_HEADERS, asyncApiDocument } from '../../src/entry-points/http/asyncapi';
import { deadLetterHeaders } from '../../src/entry-points/kafka/approval-consumer';
import { allTopics, loadConfig } from '../../src/libraries/config';
import { DEAD_LETTER_REASONS } from '../../src/libraries/errors';
import { APPROVAL_EVENT_TYPES } from '../../src/domain/approval';
import { DECISION_KINDS, OPERATIONS, STATUSES } from '../../src/domain/card-operation';
import { WITHHELD } from '../../src/entry-points/relays/event-personal-data';
import { parseAsyncApi } from '../support/asyncapi';

const ROOT = path.resolve(__dirname, '..', '..');
let parsed: AsyncAPIDocumentInterface;

beforeAll(async () => {
  // As if the document sat at the repository's root, as it sits at the server's root.
  const result = await parseAsyncApi(asyncApiDocument, path.join(ROOT, 'asyncapi.json'));
  expect(result.errors).toEqual([]);
  parsed = result.parsed!;
});

test('when the AsyncAPI parser reads the document with its Avro references, then it reports no error', () => {
  expect(parsed.version()).toBe('3.0.0');
  // Each referenced .avsc was found and converted: its record fields are the payload's properties.
  const payloadFields = (id: string) => Object.keys(parsed.components().messages().get(id)!.payload()!.properties() ?? {});
  expect(payloadFields('CardOperationRequest')).toEqual(expect.arrayContaining(['requestId', 'operation', 'requester', 'cards', 'approvers']));
  expect(payloadFields('ApprovalDecision')).toEqual(expect.arrayContaining(['decisionId', 'requestId', 'decision', 'approver', 'reason']));
  expect(payloadFields('ApprovalEvent')).toEqual(expect.arrayContaining(['eventId', 'type', 'requestId', 'status']));
  const referenced = JSON.stringify(asyncApiDocument).match(/\.\/schemas\/[a-z-]+\.avsc/g) ?? [];
  expect(new Set(referenced)).toEqual(new Set(AVRO_SCHEMAS.map((name) => `./schemas/${name}.avsc`)));
});

test('when the topics are the defaults, then every topic the worker uses is a channel and every channel is one of them', () => {
  const { topics } = loadConfig({});
  const addresses = parsed.channels().all().map((c) => c.address());
  expect([...addresses].sort()).toEqual(allTopics(topics).sort());
});

test('when a topic is read or written, then its operations say so: requests and decisions received, decisions, events and dead letters sent', () => {
  const { topics } = loadConfig({});
  const actions = (topic: string) =>
    parsed
      .operations()
      .all()
      .filter((o) => o.channels().all().some((c) => c.address() === topic))
      .map((o) => o.action())
      .sort();
  for (const topic of Object.values(topics.requests)) expect(actions(topic)).toEqual(['receive']);
  expect(actions(topics.decisions)).toEqual(['receive', 'send']);
  expect(actions(topics.events)).toEqual(['send']);
  expect(actions(topics.deadLetter)).toEqual(['send']);
});

test('when a message is Avro, then it is keyed by requestId, in the Confluent wire format, with the compatibility the worker sets on its subject', () => {
  const { topics } = loadConfig({});
  const channels = asyncApiDocument.channels as Record<string, { address: string; 'x-schema-registry'?: { subject: string; compatibility: string } }>;
  const registry = Object.fromEntries(Object.values(channels).map((c) => [c.address, c['x-schema-registry']]));
  for (const topic of [...Object.values(topics.requests), topics.decisions]) expect(registry[topic]).toMatchObject({ subject: `${topic}-value`, compatibility: 'BACKWARD' });
  // FULL includes FORWARD: readers of the events on an older schema read what the worker writes now.
  expect(registry[topics.events]).toMatchObject({ subject: `${topics.events}-value`, compatibility: 'FULL' });
  expect(registry[topics.deadLetter]).toBeUndefined();
  for (const id of ['CardOperationRequest', 'ApprovalDecision', 'ApprovalEvent']) {
    const message = parsed.components().messages().get(id)!;
    expect(message.contentType()).toBe('application/vnd.apache.avro+binary');
    expect(message.schemaFormat()).toBe('application/vnd.apache.avro;version=1.9.0');
    expect(message.bindings().get('kafka')?.value()).toMatchObject({ key: { type: 'string' }, schemaIdLocation: 'payload', schemaIdPayloadEncoding: 'confluent' });
  }
  const event = parsed.components().messages().get('ApprovalEvent')!;
  expect(Object.keys(event.headers()!.properties() ?? {}).sort()).toEqual(['eventId', 'eventType']);
});

test('when the consumer dead-letters a message, then the document describes exactly the headers it writes and every reason', () => {
  const message = { key: Buffer.from('r-1'), value: null, offset: '42', timestamp: '0', attributes: 0, headers: {} } as unknown as KafkaMessage;
  const written = deadLetterHeaders({ message, reason: 'UNDECODABLE', detail: 'not the wire format', context: {} }, 'card-operations.lock-card', 2);
  const deadLetter = parsed.components().messages().get('DeadLetter')!;
  const described = deadLetter.headers()!.properties() ?? {};
  expect(Object.keys(described).sort()).toEqual(Object.keys(written).sort());
  expect(Object.keys(DEAD_LETTER_HEADERS).sort()).toEqual(Object.keys(written).sort());
  for (const name of Object.keys(written)) expect(described[name]!.description()).toBeTruthy();
  expect(described['dlq.reason']!.enum()).toEqual([...DEAD_LETTER_REASONS]);
});

test('when the contract grows, then the document names every event type, decision kind and status, and the fields that say who decided and how far the votes are', () => {
  const channels = asyncApiDocument.channels as Record<string, { description: string }>;
  const messages = asyncApiDocument.components.messages as Record<string, { summary: string; description: string }>;
  for (const type of APPROVAL_EVENT_TYPES) expect({ type, named: channels.events!.description.includes(type) }).toEqual({ type, named: true });
  for (const status of STATUSES.filter((s) => s !== 'PENDING')) expect({ status, named: channels.events!.description.includes(status) }).toEqual({ status, named: true });
  const decision = `${messages.ApprovalDecision!.summary} ${messages.ApprovalDecision!.description}`;
  for (const kind of DECISION_KINDS) expect({ kind, named: decision.includes(kind) }).toEqual({ kind, named: true });
  for (const field of ['cardOutcomes', 'reassign']) expect({ field, named: decision.includes(field) }).toEqual({ field, named: true });
  for (const field of ['progress', 'cardResults', 'onBehalfOf', 'reassign']) expect({ field, named: messages.ApprovalEvent!.description.includes(field) }).toEqual({ field, named: true });
  expect(messages.CardOperationRequest!.description).toContain('approvalRule');
});

test('when the worker publishes ids only, then the document says what a person\'s name and email read, in the message and in the Avro payload it derives', () => {
  const messages = asyncApiDocument.components.messages as Record<string, { description: string }>;
  expect(messages.ApprovalEvent!.description).toContain(`EVENT_PERSONAL_DATA`);
  expect(messages.ApprovalEvent!.description).toContain(`name and email are both ${JSON.stringify(WITHHELD)}`);
  // The parser converts the Avro docs into the payload's descriptions: the placeholder is stated where a consumer reads the field.
  const requester = parsed.components().messages().get('ApprovalEvent')!.payload()!.properties()!.requester!;
  const person = [requester, ...(requester.oneOf() ?? [])].find((s) => s.properties()?.name);
  for (const field of ['name', 'email']) expect(person!.properties()![field]!.description()).toContain(`EVENT_PERSONAL_DATA=ids: ${JSON.stringify(WITHHELD)}`);
});

test("when an operation is added to the code's table, then both schemas that carry an operation have its symbol, and only the table's", () => {
  const operationSymbols = (file: string): string[] => {
    const found: string[][] = [];
    JSON.parse(fs.readFileSync(path.join(ROOT, 'schemas', file), 'utf8'), (key, value: { name?: string; symbols?: string[] }) => {
      if (value && value.name === 'CardOperation' && value.symbols) found.push(value.symbols);
      return value;
    });
    expect(found).toHaveLength(1);
    return found[0]!.filter((s) => s !== 'UNKNOWN');
  };
  for (const file of ['card-operation-request.avsc', 'approval-event.avsc']) expect({ file, symbols: operationSymbols(file) }).toEqual({ file, symbols: [...OPERATIONS] });
});
