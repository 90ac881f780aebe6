// The Kafka contract as an AsyncAPI 3 document, served at GET /asyncapi.json beside the API's
// OpenAPI document. Topic names come from loadConfig's defaults and dead-letter reasons from the
// error model, so neither is written twice. Payloads are the Avro schemas in schemas/, referenced
// by relative path (./schemas/<name>.avsc), not copied: the server serves them at
// /schemas/<name>.avsc, so the references resolve against the document's URL, as they do against
// the repository's root. Tests parse the document with the AsyncAPI parser and its Avro parser.
import fs from 'node:fs';
import path from 'node:path';
import { OPERATION_FACTS, OPERATIONS, type Operation } from '../../domain/card-operation';
import { SUBJECT_COMPATIBILITY, type SchemaName } from '../../adapters/schema-registry/avro-codec';
import { loadConfig } from '../../libraries/config';
import { DEAD_LETTER_REASONS } from '../../libraries/errors';
import { WITHHELD, WITHHELD_IN_TEXT } from '../relays/event-personal-data';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const defaults = loadConfig({});

/** The Avro schemas the document references, each served at /schemas/<name>.avsc. */
export const AVRO_SCHEMAS: readonly SchemaName[] = ['card-operation-request', 'approval-decision', 'approval-event'];

/** The schema files as the server answers them: path → file bytes, read once at start-up. */
export const AVRO_SCHEMA_FILES: ReadonlyMap<string, Buffer> = new Map(AVRO_SCHEMAS.map((name) => [`/schemas/${name}.avsc`, fs.readFileSync(path.join(ROOT, 'schemas', `${name}.avsc`))]));

const AVRO = 'application/vnd.apache.avro;version=1.9.0';
const avroPayload = (name: SchemaName) => ({ schemaFormat: AVRO, schema: { $ref: `./schemas/${name}.avsc` } });

const WIRE_FORMAT =
  'Content type `application/vnd.apache.avro+binary` in the Confluent wire format: byte 0 is the magic byte 0, bytes 1-4 the ' +
  'schema id (big-endian, unsigned) in the schema registry (SCHEMA_REGISTRY_URL), and the rest the Avro binary encoding of the ' +
  'value with that writer schema. Decode with the writer schema the id names, resolved into your reader schema. The schema id is ' +
  'in the payload, never in a header.';

const UNKNOWN_SYMBOLS =
  'Enums evolve: new symbols are added over time. Each enum has a `default` symbol that is never written; an Avro 1.9+ reader ' +
  "(schema resolution, AVRO-1340) reads a symbol its schema does not know as that default. A reader whose library does not apply enum defaults must do the same itself: never fail on, or guess at, a symbol it does not know; handle the value as the enum's doc says (skip it, or treat it as an end state it does not act on).";

/** Kafka message binding: key requestId (UTF-8 string), schema id in the payload (Confluent's 4 bytes). */
const requestIdKey = {
  kafka: {
    key: { type: 'string', description: 'The requestId, UTF-8. All messages and events of one request share it, so they stay in order on one partition.' },
    schemaIdLocation: 'payload',
    schemaIdPayloadEncoding: 'confluent',
    schemaLookupStrategy: 'TopicNameStrategy',
    bindingVersion: '0.5.0',
  },
};

/** What the events carry of people under each EVENT_PERSONAL_DATA (the mapping is event-personal-data.ts; the schema's docs say the same per field). */
const PERSONAL_DATA =
  'People (EVENT_PERSONAL_DATA, set per deployment): with `full` (the default), each Person carries its id, name, email and locale as stored, and description and reasons the text people wrote. ' +
  'With `ids`, every Person in the event (requester, each card\'s holder, approvers, decision.approver, decision.onBehalfOf, decision.reassign.from and .to) carries its id and locale only: ' +
  `name and email are both ${JSON.stringify(WITHHELD)} (the empty string, which no real name or address is: test for it); description, decision.reason and cardResults[].reason are null; ` +
  `and message names people by id (${WITHHELD_IN_TEXT} where an id cannot tell who). The schema is the same in both modes. ` +
  "A system that needs a person's name or address asks the identity system for that id, not the event stream.";

const topicOverride = (variable: string) =>
  `Default name; TOPIC_PREFIX is prefixed to every default name, and ${variable} replaces this one (see the README, "Configuration").`;

/** What each compatibility level the worker sets on a subject (SUBJECT_COMPATIBILITY) promises its readers. */
const COMPATIBILITY_MEANS: Record<(typeof SUBJECT_COMPATIBILITY)[SchemaName], string> = {
  BACKWARD:
    'BACKWARD: the worker reads this topic. A new version of the schema must read every message written with the previous one, ' +
    'so an upgraded worker still reads what is already in the topic (add fields only with defaults; remove fields; add enum symbols). ' +
    "A writer on a newer schema than the worker's is read through Avro schema resolution: fields the worker does not know are skipped, " +
    'and an enum symbol it does not know reads as the enum default, which the worker dead-letters (INVALID_CONTENT).',
  FULL:
    'FULL (FORWARD and BACKWARD): the worker writes this topic for readers it does not upgrade. Readers still on the previous ' +
    'schema must read what a new version writes (FORWARD), and a reader on the new schema must read older events (BACKWARD): ' +
    'fields are added or removed only with defaults, and enum symbols are added, which an older reader reads as the enum default.',
};

/** The subject a topic's value schema is registered under (TopicNameStrategy), and the compatibility the worker sets on it. */
const registrySubject = (topic: string, schema: SchemaName) => ({
  subject: `${topic}-value`,
  compatibility: SUBJECT_COMPATIBILITY[schema],
  description: COMPATIBILITY_MEANS[SUBJECT_COMPATIBILITY[schema]],
});

const requestChannels = Object.fromEntries(
  OPERATIONS.map((op) => [
    OPERATION_FACTS[op].channel,
    {
      address: defaults.topics.requests[op],
      title: `${op} requests`,
      description: `Requests for ${op}, published by upstream card systems; the operation field must be ${op}, or the request is dead-lettered (INVALID_CONTENT). ${topicOverride(`TOPIC_${op}`)}`,
      messages: { cardOperationRequest: { $ref: '#/components/messages/CardOperationRequest' } },
      'x-schema-registry': registrySubject(defaults.topics.requests[op], 'card-operation-request'),
    },
  ]),
);

const requestOperations = Object.fromEntries(
  OPERATIONS.map((op) => [
    `receive${OPERATION_FACTS[op].channel[0]!.toUpperCase()}${OPERATION_FACTS[op].channel.slice(1)}`,
    {
      action: 'receive',
      title: `Open an approval for ${op}`,
      summary: 'Store the request, pick its approvers and email them; publish OPENED. An exact redelivery has no second effect.',
      channel: { $ref: `#/channels/${OPERATION_FACTS[op].channel}` },
      messages: [{ $ref: `#/channels/${OPERATION_FACTS[op].channel}/messages/cardOperationRequest` }],
      bindings: { $ref: '#/components/operationBindings/workerGroup' },
    },
  ]),
);

/** The header the operators' CLI adds when it replays a dead letter to its source topic (card-approvals dead-letters replay). */
const replayedHeaders = {
  type: 'object',
  properties: {
    'dlq.replayed-from': {
      type: 'string',
      pattern: '^.+:[0-9]+:[0-9]+$',
      description: "Only on a replayed dead letter: <dead-letter topic>:<partition>:<offset> of the dead letter it was. The key and value are the original's, unchanged. The worker processes it like any other message; other headers are not read.",
    },
  },
};

/** The dead-letter headers the consumer writes (approval-consumer.ts, deadLetterHeaders), all UTF-8 strings. */
export const DEAD_LETTER_HEADERS = {
  'dlq.reason': { type: 'string', enum: [...DEAD_LETTER_REASONS], description: 'Why the message can never be processed as it is (see the README\'s dead-letter reason table). New reasons may be added: treat one you do not know like any other dead letter.' },
  'dlq.detail': { type: 'string', maxLength: 2000, description: 'Human-readable detail of the reason (the decoder\'s or validator\'s message, the fields that conflict, the database\'s message), cut at 2000 characters. Not a stable format: for people, not for parsing.' },
  'dlq.source.topic': { type: 'string', description: 'The topic the message was read from (a request topic or the decisions topic).' },
  'dlq.source.partition': { type: 'string', pattern: '^[0-9]+$', description: 'Its partition, in decimal.' },
  'dlq.source.offset': { type: 'string', pattern: '^[0-9]+$', description: 'Its offset in that partition, in decimal: with the topic and partition, where to find the original.' },
  'dlq.time': { type: 'string', format: 'date-time', description: 'When the worker dead-lettered it (ISO 8601, UTC).' },
} as const;

export const asyncApiDocument = {
  asyncapi: '3.0.0',
  info: {
    title: 'Card-approval worker: Kafka contract',
    version: '1.0.0',
    description: [
      'Card-operation requests arrive on one topic per operation; the worker stores each as an approval, emails its approvers, ',
      'reads their decisions, and publishes every state change as an event. A message it can never process goes, as it was, ',
      'to the dead-letter topic with headers that say why.',
      '',
      'Topic names are defaults: TOPIC_PREFIX is prefixed to every one, and TOPIC_<OPERATION>, TOPIC_DECISIONS, TOPIC_EVENTS and ',
      'TOPIC_DEAD_LETTER replace single names.',
      '',
      `Avro topics: ${WIRE_FORMAT} Each topic's value schema is registered under the subject \`<topic>-value\` (x-schema-registry on each channel says which compatibility the subject is checked with). Keys are plain UTF-8 strings, not Avro.`,
      '',
      `Unknown enum symbols: ${UNKNOWN_SYMBOLS}`,
      '',
      'Delivery is at least once: a message or event can arrive twice. Dedupe events on eventId, decisions on decisionId, requests on requestId.',
    ].join('\n'),
  },
  defaultContentType: 'application/vnd.apache.avro+binary',
  servers: {
    kafka: {
      host: defaults.kafka.brokers.join(','),
      protocol: 'kafka',
      description: 'The brokers (KAFKA_BROKERS; this is the local default), TLS and SASL as configured.',
      bindings: { kafka: { schemaRegistryUrl: defaults.schemaRegistryUrl, schemaRegistryVendor: 'confluent', bindingVersion: '0.5.0' } },
    },
  },
  channels: {
    ...requestChannels,
    decisions: {
      address: defaults.topics.decisions,
      title: 'Decisions',
      description:
        "Approvers' decisions on requests, withdrawals (decision WITHDRAWN) and reassignments (decision REASSIGNED): from the worker's own API " +
        '(POST /api/requests/{requestId}/decisions, /api/decisions, /api/requests/{requestId}/reassign, /api/reassignments) and from upstream systems. ' +
        'Topic ACLs guard who may write here: a withdrawal or reassignment acting as UPSTREAM or OPERATOR is trusted as the requests are. ' +
        "Under a policy that needs more than one vote (ALL, QUORUM n, or stages asked in order) each APPROVED or REJECTED is one person's vote; POSTPONED is no vote. " +
        'A person counts once per request, whoever they act for: a second vote by the same person, or by a delegate for an approver who has voted, is refused ALREADY_VOTED. ' +
        'A delegate decides under their own name: the worker finds whom they stand in for from the delegations in force when the decision arrives, and the event says so (decision.onBehalfOf). ' +
        `${topicOverride('TOPIC_DECISIONS')}`,
      messages: { approvalDecision: { $ref: '#/components/messages/ApprovalDecision' } },
      'x-schema-registry': registrySubject(defaults.topics.decisions, 'approval-decision'),
    },
    events: {
      address: defaults.topics.events,
      title: 'Approval events',
      description:
        'One event per state change of an approval, in the order they happened for each request: OPENED; POSTPONED; REMINDED and ESCALATED (timers, the request stays PENDING); ' +
        "VOTED (an approval or rejection counted under a policy that needs more than one vote; the request stays PENDING unless the end follows); REASSIGNED (an operator moved an approver's part to another person); " +
        'and one end — APPROVED, REJECTED, PARTIALLY_APPROVED (a multi-card request with some cards rejected), EXPIRED (nobody decided in time), CANCELLED (withdrawn) or SUPERSEDED (a newer request for the same card); ' +
        'DECISION_REFUSED for a decision, withdrawal or reassignment that broke a rule. ' +
        'Under the single-vote ANY rule (the default) a decision is one event, as it always was: APPROVED, REJECTED or PARTIALLY_APPROVED (now with progress). ' +
        'Under ALL, QUORUM or stages each vote is a VOTED event with progress, and the vote that ends the request is followed by its end event (an eventId of its own). ' +
        `${topicOverride('TOPIC_EVENTS')}`,
      messages: { approvalEvent: { $ref: '#/components/messages/ApprovalEvent' } },
      'x-schema-registry': registrySubject(defaults.topics.events, 'approval-event'),
    },
    deadLetter: {
      address: defaults.topics.deadLetter,
      title: 'Dead letters',
      description: `Requests and decisions the worker can never process as they are; each is committed past, not retried. ${topicOverride('TOPIC_DEAD_LETTER')}`,
      messages: { deadLetter: { $ref: '#/components/messages/DeadLetter' } },
    },
  },
  operations: {
    ...requestOperations,
    receiveDecision: {
      action: 'receive',
      title: 'Apply a decision',
      summary:
        "Count an approval or rejection under the request's policy (ANY, ALL, QUORUM n, stages in order), note a postponement, withdraw the request (WITHDRAWN, from its requester, an operator or upstream: it ends CANCELLED), " +
        "or hand one approver's part to another person (REASSIGNED, from an operator or upstream). A decision that breaks a rule is refused (event DECISION_REFUSED with a refusalCode such as " +
        'ALREADY_VOTED, WITHDRAWAL_NOT_ALLOWED, REASSIGNMENT_NOT_ALLOWED or CARD_OUTCOMES_NOT_ALLOWED). Idempotent on decisionId.',
      channel: { $ref: '#/channels/decisions' },
      messages: [{ $ref: '#/channels/decisions/messages/approvalDecision' }],
      bindings: { $ref: '#/components/operationBindings/workerGroup' },
    },
    sendDecision: {
      action: 'send',
      title: "Publish an approver's decision, a withdrawal or a reassignment (the API)",
      summary:
        "The worker's HTTP API publishes a decision as the person its bearer token proved (an approver, or a delegate standing in for one), a withdrawal as the requester or operator it proved " +
        '(actingAs REQUESTER or OPERATOR), or a reassignment by an operator (actingAs OPERATOR), then answers 202.',
      channel: { $ref: '#/channels/decisions' },
      messages: [{ $ref: '#/channels/decisions/messages/approvalDecision' }],
    },
    sendEvent: {
      action: 'send',
      title: 'Publish approval events',
      summary: 'From the events outbox, each request\'s events in order; a republished event keeps its eventId. Timers (reminders, escalation, expiry; APPROVAL_TIMERS) publish their events here too.',
      channel: { $ref: '#/channels/events' },
      messages: [{ $ref: '#/channels/events/messages/approvalEvent' }],
    },
    sendDeadLetter: {
      action: 'send',
      title: 'Dead-letter a message',
      summary: 'The original key and value bytes, with the dlq.* headers; the source offset is committed once it is acknowledged.',
      channel: { $ref: '#/channels/deadLetter' },
      messages: [{ $ref: '#/channels/deadLetter/messages/deadLetter' }],
    },
  },
  components: {
    messages: {
      CardOperationRequest: {
        name: 'CardOperationRequest',
        title: 'Card-operation request',
        summary: 'A card operation that needs a second person\'s approval.',
        description:
          "Exactly one card, except REQUEST_MULTIPLE_CARDS: 1 to MAX_CARDS_PER_REQUEST. An optional dueAt brings the approval's expiry forward, never later than its operation's policy. " +
          "Who decides is the operation's approval policy (APPROVAL_POLICY): one stage of the request's approvers under ANY (the default), ALL or QUORUM n, or stages asked in order. " +
          "An optional approvalRule ({ mode: ANY | ALL | QUORUM, quorum }) sets the request's own rule over its approvers, replacing the stages, where the policy allows it (requestRule allow); " +
          'where it does not, the request is dead-lettered INVALID_CONTENT. A request whose stage could never get the approvals it needs (too few approvers who are not the requester or a holder) is dead-lettered NO_ELIGIBLE_APPROVERS. ' +
          `${WIRE_FORMAT}`,
        contentType: 'application/vnd.apache.avro+binary',
        headers: replayedHeaders,
        payload: avroPayload('card-operation-request'),
        bindings: requestIdKey,
      },
      ApprovalDecision: {
        name: 'ApprovalDecision',
        title: "Approver's decision",
        summary:
          'APPROVED, REJECTED (reason required) or POSTPONED, by the approver named in it or a delegate of one; WITHDRAWN by the requester, an operator or upstream (actingAs); ' +
          'or REASSIGNED by an operator or upstream (actingAs), with reassign { from, to }.',
        description:
          'The key is the requestId the decision is about. ' +
          "cardOutcomes: per-card answers [{ cardIndex, outcome: APPROVED | REJECTED, reason }] with decision APPROVED, only on a REQUEST_MULTIPLE_CARDS request whose policy is one ANY stage " +
          '(else refused CARD_OUTCOMES_NOT_ALLOWED); cards not named are approved, a rejected card needs a reason (REASON_REQUIRED), an index outside the request or named twice is refused CARD_OUTCOMES_INVALID. ' +
          "reassign: for REASSIGNED only, whose part ({ from }: an approver of the active stage, a later one or the escalation group) goes to whom ({ to }: not the requester, a holder, or someone who has voted). " +
          'Votes already cast stay as they were; a reassignment that would leave a stage short of the approvals it needs is refused REASSIGNMENT_NOT_ALLOWED. ' +
          `${WIRE_FORMAT}`,
        contentType: 'application/vnd.apache.avro+binary',
        headers: replayedHeaders,
        payload: avroPayload('approval-decision'),
        bindings: requestIdKey,
      },
      ApprovalEvent: {
        name: 'ApprovalEvent',
        title: 'Approval event',
        summary: 'A state change of an approval request.',
        description:
          'eventId is derived from what caused the event, so a republished event carries the same id: dedupe on it. The headers repeat eventId and the type, for routing without decoding. ' +
          'approvers: who is asked now (the active stage, with the escalation group). ' +
          'progress { stage, stages, stageName, approvals, required }: where the votes stand after the event (stage from 1; for VOTED, the stage voted in), on OPENED, POSTPONED, VOTED, REASSIGNED and the end a vote brings (APPROVED, REJECTED, PARTIALLY_APPROVED); null on the others. ' +
          'decision.onBehalfOf: the approver a delegate decided for (decision.approver is the delegate); null when the approver decided in person. ' +
          'decision.reassign { from, to }: on REASSIGNED, whose part went to whom. ' +
          'cardResults [{ cardIndex, outcome, reason }]: how each card of a REQUEST_MULTIPLE_CARDS request ended, once it has; the status is APPROVED (every card approved), REJECTED (every card rejected) or PARTIALLY_APPROVED. ' +
          'message: a line for people (a vote\'s progress, the next stage asked, a delegate deciding for someone, a reassignment, a refusal), not for parsing. ' +
          `${PERSONAL_DATA} ` +
          `${WIRE_FORMAT}`,
        contentType: 'application/vnd.apache.avro+binary',
        headers: {
          type: 'object',
          required: ['eventId', 'eventType'],
          properties: {
            eventId: { type: 'string', description: 'The payload\'s eventId (UTF-8).' },
            eventType: { type: 'string', description: 'The payload\'s type symbol (UTF-8), e.g. OPENED. New types are added over time: skip an event whose type you do not know.' },
          },
        },
        payload: avroPayload('approval-event'),
        bindings: requestIdKey,
      },
      DeadLetter: {
        name: 'DeadLetter',
        title: 'Dead letter',
        summary: 'A request or decision the worker can never process as it is.',
        description:
          'Key and value are the original bytes, unchanged (the value may be empty, not Avro, or Avro of an unknown schema; the original headers are not copied). ' +
          'The dlq.* headers, all UTF-8 strings, say why and where it came from. Once the cause is fixed, operators send it back to its source topic unchanged (card-approvals dead-letters replay), with a dlq.replayed-from header; content that breaks the contract must instead be corrected and published again by its producer.',
        contentType: 'application/octet-stream',
        headers: { type: 'object', required: Object.keys(DEAD_LETTER_HEADERS), properties: DEAD_LETTER_HEADERS },
        payload: { type: ['string', 'null'], format: 'binary', description: 'The original value bytes, or null.' },
        bindings: {
          kafka: { key: { type: ['string', 'null'], description: 'The original key bytes (normally the requestId), or null.' }, bindingVersion: '0.5.0' },
        },
      },
    },
    operationBindings: {
      workerGroup: { kafka: { groupId: { type: 'string', enum: [defaults.kafka.groupId], description: 'KAFKA_GROUP_ID' }, bindingVersion: '0.5.0' } },
    },
  },
};
