#!/usr/bin/env node
// `card-approvals`: the operators' command line. Each command is declared once, in COMMANDS: its
// arguments, options and description are both its parser and its help (`card-approvals help`).
// Every command that reads or changes records (requests, decisions, reassignments, parked events
// and timers) goes through the worker's API with the bearer token of the person acting (an
// operator's; for decide, whoever decides), like the page does, so the API's rules (identity from
// the token, who may see and do what) hold for it too, and it needs no database credentials; it
// never publishes a decision itself. The commands on topics
// (tail, dead-letters) use Kafka with the operator's own credentials; `token` mints a local token
// with AUTH_SECRET and calls nothing.
import { randomUUID } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { checkBrokerAccepts, createKafka, createProducer, createWatcher } from '../../adapters/kafka/kafka-client';
import { AvroCodec, type SchemaName } from '../../adapters/schema-registry/avro-codec';
import { OPERATIONS, STATUSES } from '../../domain/card-operation';
import { ConfigError, WORKER_SETTINGS, loadConfig, type Config } from '../../libraries/config';
import { errorMessage } from '../../libraries/errors';
import { createLogger } from '../../libraries/logger';
import type { z } from 'zod';
import * as S from '../http/api-schemas';
import { decisionsCsv } from '../http/audit-api';
import { ROLES, isRole, mintLocalToken } from '../http/auth';
import { callApi, type ApiTarget } from './api-client';
import { UsageError, parseCommandLine, type Args, type FormSpec, type Input, type Options } from './command-line';

const KAFKA = "Kafka with the operator's own credentials (KAFKA_BROKERS, KAFKA_SASL_*, KAFKA_SSL_*) and the worker's topic settings (TOPIC_PREFIX, TOPIC_*)";
/** What a command reaches, and so the settings it needs: in production, only those. */
const REACHES = {
  api: { needs: [], says: "the worker's API and the token of the person acting: CARD_APPROVALS_API_URL (or --api) and CARD_APPROVALS_TOKEN (or --token), nothing else" },
  kafka: { needs: ['KAFKA_BROKERS'], says: KAFKA },
  registry: { needs: ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL'], says: `${KAFKA}, and SCHEMA_REGISTRY_URL` },
  local: { needs: [], says: "AUTH_SECRET (the worker's secret); it runs here and calls nothing" },
} as const satisfies Record<string, { needs: readonly string[]; says: string }>;
type Reach = keyof typeof REACHES;

interface Command extends FormSpec {
  reaches: Reach;
  run(input: Input, config: Config): Promise<void>;
}

/** A command as declared, its handler typed by its own options and arguments; its help says what it needs. */
const command = <const O extends Options, const A extends Args = []>(c: FormSpec<O, A> & { reaches: Reach; run(input: Input<O, A>, config: Config): Promise<void> }): Command =>
  ({ ...c, description: `${c.description}\nNeeds ${REACHES[c.reaches].says}.` }) as unknown as Command;

/** The options of every command that calls the API. */
const API_OPTIONS = {
  token: { type: 'string', value: 'JWT', description: 'the bearer token; default CARD_APPROVALS_TOKEN (prefer it: arguments show in the process list)' },
  api: { type: 'string', value: 'URL', description: `the worker's API; default CARD_APPROVALS_API_URL, else ${WORKER_SETTINGS.CARD_APPROVALS_API_URL.default}` },
} as const satisfies Options;
/** And of every command that changes something through it. */
const API_WRITE_OPTIONS = {
  ...API_OPTIONS,
  'idempotency-key': { type: 'string', value: 'KEY', description: 'the Idempotency-Key sent (default: a new one each run); a run whose outcome is unknown (no answer, a 5xx) prints its key: run it again with that key and it is done once' },
} as const satisfies Options;

const targetOf = (options: { token?: string; api?: string; 'idempotency-key'?: string }, config: Config): ApiTarget => ({
  url: options.api ?? config.cli.apiUrl,
  token: options.token ?? config.cli.token,
  idempotencyKey: options['idempotency-key'],
});

/** Requests listed per call of `requests list`. */
const LIST_PAGE = 50;

function resolveTopic(config: Config, alias: string): { topic: string; schema: SchemaName | undefined } {
  if (alias === 'events') return { topic: config.topics.events, schema: 'approval-event' };
  if (alias === 'decisions') return { topic: config.topics.decisions, schema: 'approval-decision' };
  if (alias === 'dead-letter') return { topic: config.topics.deadLetter, schema: undefined };
  const operation = OPERATIONS.find((op) => op.toLowerCase().replace(/_/g, '-') === alias || config.topics.requests[op] === alias);
  if (operation) return { topic: config.topics.requests[operation], schema: 'card-operation-request' };
  if (alias === config.topics.events) return { topic: alias, schema: 'approval-event' };
  if (alias === config.topics.decisions) return { topic: alias, schema: 'approval-decision' };
  if (alias === config.topics.deadLetter) return { topic: alias, schema: undefined };
  throw new UsageError(`unknown topic ${alias}; use events, decisions, dead-letter or an operation such as lock-card`);
}

const headersOf = (message: KafkaMessage): Record<string, string> =>
  Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v ?? '')]));

/** Reads a topic from the beginning up to its end as of now, or forever with `follow`. */
async function readTopic(
  config: Config,
  topic: string,
  opts: { fromBeginning: boolean; follow: boolean },
  onMessage: (message: KafkaMessage, partition: number) => Promise<boolean | void>,
): Promise<void> {
  const kafka = createKafka(config.kafka, createLogger('silent'), 'card-approvals-cli');
  // Every command that uses Kafka reads first: a broker refusing our credentials ends it here, at once.
  await checkBrokerAccepts(config.kafka, createLogger('silent'));
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  await admin.disconnect();
  const consumer = createWatcher(kafka, `card-approvals-cli-${randomUUID()}`);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: opts.fromBeginning });
  const pending = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p));
  await new Promise<void>((resolve, reject) => {
    if (!opts.follow && (pending.size === 0 || !opts.fromBeginning)) return resolve();
    consumer
      .run({
        eachMessage: async ({ message, partition }) => {
          const stop = await onMessage(message, partition);
          if (!opts.follow && BigInt(message.offset) + 1n >= (ends.get(partition) ?? 0n)) pending.delete(partition);
          if (stop === true || (!opts.follow && pending.size === 0)) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
}


/** The dead letters, read from the beginning of the topic up to its end as of now; `reason` keeps only those. */
async function readDeadLetters(config: Config, reason: string | undefined) {
  const letters: Array<{ partition: number; message: KafkaMessage; headers: Record<string, string> }> = [];
  await readTopic(config, config.topics.deadLetter, { fromBeginning: true, follow: false }, async (message, partition) => {
    const headers = headersOf(message);
    if (reason === undefined || headers['dlq.reason'] === reason) letters.push({ partition, message, headers });
  });
  return letters;
}

const COMMANDS: Command[] = [
  command({
    name: 'token',
    reaches: 'local',
    description: 'Mints a local bearer token signed with AUTH_SECRET.',
    options: {
      id: { type: 'string', value: 'ID', required: true, description: "the person's id (the token's sub)" },
      name: { type: 'string', value: 'NAME', required: true, description: 'their name' },
      email: { type: 'string', value: 'EMAIL', required: true, description: 'their email address' },
      roles: { type: 'string', value: ROLES.join(','), description: 'their roles, separated by commas; default approver' },
      ttl: { type: 'string', value: '8h', description: 'how long the token lives; default 8h' },
    },
    run: async ({ options }, config) => {
      const roles = (options.roles ?? 'approver').split(',').map((r) => r.trim());
      const unknown = roles.filter((r) => !isRole(r));
      if (unknown.length) throw new UsageError(`--roles: no role ${unknown.join(', ')}; the roles are ${ROLES.join(', ')}`);
      console.log(await mintLocalToken(config.auth, { id: options.id, name: options.name, email: options.email, roles: roles.filter(isRole) }, options.ttl ?? '8h'));
    },
  }),
  command({
    name: 'tail',
    reaches: 'registry',
    description: 'Prints a topic decoded through the registry. TOPIC: events, decisions, dead-letter, an operation (lock-card …) or a topic name.',
    args: [{ name: 'TOPIC' }],
    options: {
      'from-beginning': { type: 'boolean', description: 'from the first message, up to the end as of now' },
      follow: { type: 'boolean', description: 'with --from-beginning: keep reading after the end (without it, tail always does)' },
      json: { type: 'boolean', description: 'one JSON line per message' },
      request: { type: 'string', value: 'ID', description: "only this request's messages (by key)" },
      max: { type: 'string', value: 'N', description: 'stop after N messages' },
    },
    run: async ({ args, options }, config) => {
      const { topic, schema } = resolveTopic(config, args.TOPIC);
      if (options.max !== undefined && !/^[1-9][0-9]*$/.test(options.max)) throw new UsageError('--max is a whole number from 1');
      const max = Number(options.max ?? Infinity);
      const codec = new AvroCodec(config.schemaRegistryUrl);
      let printed = 0;
      const fromBeginning = options['from-beginning'];
      await readTopic(config, topic, { fromBeginning, follow: !fromBeginning || options.follow }, async (message, partition) => {
        const key = message.key?.toString() ?? null;
        if (options.request !== undefined && key !== options.request) return;
        let value: unknown;
        try {
          value = schema ? await codec.decode(message.value, schema) : { bytes: message.value?.length ?? 0 };
        } catch (error) {
          value = { undecodable: errorMessage(error) };
        }
        const line = { partition, offset: message.offset, key, headers: headersOf(message), value };
        console.log(options.json ? JSON.stringify(line) : `${topic}[${partition}]@${message.offset} key=${key}\n${JSON.stringify(value, null, 2)}`);
        printed += 1;
        return printed >= max;
      });
    },
  }),
  command({
    name: 'requests list',
    reaches: 'api',
    description: `Lists approval requests, newest first, ${LIST_PAGE} at a time (GET /api/requests); the last line gives the cursor of the next ${LIST_PAGE}. Operators see all; approvers and requesters their own.`,
    options: {
      status: { type: 'string', value: 'S', description: `only requests in this status: ${STATUSES.join(', ')}` },
      operation: { type: 'string', value: 'O', description: `only requests of this operation: ${OPERATIONS.join(', ')}` },
      q: { type: 'string', value: 'TEXT', description: 'free text (a word of at least 3 letters or digits): request id, requester name, description, card ids and serial numbers' },
      cursor: { type: 'string', value: 'C', description: 'the next page, as the previous one named it (with the same filters)' },
      ...API_OPTIONS,
    },
    run: async ({ options }, config) => {
      const query = new URLSearchParams({ limit: String(LIST_PAGE) });
      for (const name of ['status', 'operation', 'q', 'cursor'] as const) if (options[name] !== undefined) query.set(name, options[name]);
      const page = await callApi(targetOf(options, config), { method: 'GET', path: `api/requests?${query}`, expected: 200, what: 'the search', answer: S.SearchResult });
      for (const r of page.items) {
        console.log(`${r.requestId}  ${r.operation.padEnd(22)} ${r.status.padEnd(8)} ${new Date(r.openedAt).toISOString()}  ${r.requester.name}`);
      }
      console.log(`${page.items.length} of ${page.totalCapped ? 'more than ' : ''}${page.total}${page.nextCursor ? `; next: --cursor ${page.nextCursor}` : ''}`);
    },
  }),
  command({
    name: 'requests show',
    reaches: 'api',
    description: 'One request with its history (GET /api/requests/ID), if the token\'s person may see it (operators see all).',
    args: [{ name: 'ID' }],
    options: API_OPTIONS,
    run: async ({ args, options }, config) => {
      const found = await callApi(targetOf(options, config), { method: 'GET', path: `api/requests/${encodeURIComponent(args.ID)}`, expected: 200, what: 'the request', answer: S.RequestWithHistory });
      console.log(JSON.stringify(found, null, 2));
    },
  }),
  command({
    name: 'decide',
    reaches: 'api',
    description: [
      "Decides through the worker's API as the person the token names (POST /api/requests/ID/decisions) and prints the decisionId.",
      "WITHDRAWN ends a pending request CANCELLED: an operator's token may withdraw any, a requester's token only their own.",
      'There is no option to decide as someone else.',
    ].join('\n'),
    args: [{ name: 'ID' }, { name: 'DECISION', choices: S.API_DECISIONS }],
    options: { reason: { type: 'string', value: 'TEXT', description: 'why (a rejection needs one)' }, ...API_WRITE_OPTIONS },
    run: async ({ args, options }, config) => {
      const body = { decision: args.DECISION, ...(options.reason !== undefined ? { reason: options.reason } : {}) };
      const path = `api/requests/${encodeURIComponent(args.ID)}/decisions`;
      const { decisionId } = await callApi(targetOf(options, config), { method: 'POST', path, body, expected: 202, what: 'the decision', answer: S.DecisionAccepted });
      console.log(decisionId);
      console.error(`decision ${decisionId} accepted: ${args.DECISION} on ${args.ID}; the worker applies it from the decisions topic`);
    },
  }),
  command({
    name: 'reassign',
    reaches: 'api',
    description: [
      "Hands an approver's part in one request (ID), or in all their open requests (--all), to another person, through the worker's API with an operator's token.",
      "POST /api/requests/ID/reassign, POST /api/reassignments; recorded in each request's history as REASSIGNED.",
    ].join('\n'),
    args: [{ name: 'ID', optional: true }],
    oneOf: ['ID', 'all'],
    options: {
      all: { type: 'boolean', description: "every open request of the approver's (up to 1,000 a run: run it again while more remain)" },
      from: { type: 'string', value: 'APPROVER_ID', required: true, description: 'the approver whose part moves' },
      'to-id': { type: 'string', value: 'ID', required: true, description: "the new approver's id" },
      'to-name': { type: 'string', value: 'NAME', required: true, description: 'their name' },
      'to-email': { type: 'string', value: 'EMAIL', required: true, description: 'their email address' },
      ...API_WRITE_OPTIONS,
    },
    run: async ({ args, options }, config) => {
      const target = targetOf(options, config);
      const body = { from: options.from, to: { id: options['to-id'], name: options['to-name'], email: options['to-email'] } };
      if (args.ID !== undefined) {
        const path = `api/requests/${encodeURIComponent(args.ID)}/reassign`;
        const { decisionId } = await callApi(target, { method: 'POST', path, body, expected: 202, what: 'the reassignment', answer: S.DecisionAccepted });
        console.log(decisionId);
        console.error(`reassignment ${decisionId} accepted on ${args.ID}: ${body.from} -> ${body.to.id}`);
        return;
      }
      const answer = await callApi(target, { method: 'POST', path: 'api/reassignments', body, expected: 200, what: 'the reassignment', answer: S.ReassignmentResult });
      for (const id of answer.reassigned) console.log(id);
      for (const r of answer.refused) console.error(`not reassigned: ${r.requestId}: ${r.error}: ${r.message}`);
      console.error(`${answer.reassigned.length} request(s) reassigned from ${body.from} to ${body.to.id}${answer.more ? '; more remain: run it again' : ''}`);
    },
  }),
  command({
    name: 'events parked',
    reaches: 'api',
    description: 'Lists events parked because they could not be published, with the reason and how many later events of their request wait behind each (GET /api/parked-events). Operators only.',
    options: API_OPTIONS,
    run: async ({ options }, config) => {
      const { items, more } = await callApi(targetOf(options, config), { method: 'GET', path: 'api/parked-events', expected: 200, what: 'the list of parked events', answer: S.ParkedEvents });
      for (const p of items) console.log(`${p.parkedAt}  ${p.eventId}  ${p.type} of ${p.requestId}  after ${p.attempts} attempt(s); ${p.waitingBehind} later event(s) waiting\n    ${p.error ?? ''}`);
      console.log(`${items.length} parked event(s)${more ? '; more are parked: unpark these and list again' : ''}`);
    },
  }),
  command({
    name: 'events unpark',
    reaches: 'api',
    description: "Puts parked events back in the queue, after the cause was fixed (the topic's size limit, say); they and the events behind them are then published in order (POST /api/parked-events/unpark). Operators only.",
    oneOf: ['event', 'all'],
    options: { event: { type: 'string', value: 'EVENT_ID', description: 'this event' }, all: { type: 'boolean', description: 'every parked event' }, ...API_WRITE_OPTIONS },
    run: async ({ options }, config) => {
      const body = options.event !== undefined ? { eventIds: [options.event] } : { all: true };
      const { unparked } = await callApi(targetOf(options, config), { method: 'POST', path: 'api/parked-events/unpark', body, expected: 200, what: 'the unpark', answer: S.Unparked });
      console.log(`${unparked} event(s) back in the queue`);
    },
  }),
  command({
    name: 'timers parked',
    reaches: 'api',
    description: 'Lists approvals whose timers (reminder, escalation, expiry) were parked because firing them failed on their own, with the reason (GET /api/parked-timers). Operators only.',
    options: API_OPTIONS,
    run: async ({ options }, config) => {
      const { items, more } = await callApi(targetOf(options, config), { method: 'GET', path: 'api/parked-timers', expected: 200, what: 'the list of parked timers', answer: S.ParkedTimers });
      for (const p of items) console.log(`${p.parkedAt}  ${p.requestId}  after ${p.attempts} attempt(s)\n    ${p.error ?? ''}`);
      console.log(`${items.length} parked timer(s)${more ? '; more are parked: unpark these and list again' : ''}`);
    },
  }),
  command({
    name: 'timers unpark',
    reaches: 'api',
    description: 'Puts parked timers back, after the cause was fixed; what is due fires at the next poll (POST /api/parked-timers/unpark). Operators only.',
    oneOf: ['request', 'all'],
    options: { request: { type: 'string', value: 'REQUEST_ID', description: "this request's timers" }, all: { type: 'boolean', description: 'every parked timer' }, ...API_WRITE_OPTIONS },
    run: async ({ options }, config) => {
      const body = options.request !== undefined ? { requestIds: [options.request] } : { all: true };
      const { unparked } = await callApi(targetOf(options, config), { method: 'POST', path: 'api/parked-timers/unpark', body, expected: 200, what: 'the unpark', answer: S.Unparked });
      console.log(`${unparked} timer(s) back; they fire at the next poll`);
    },
  }),
  command({
    name: 'erase',
    reaches: 'api',
    description: [
      'Erases one person (POST /api/personal-data/erasures): every row naming them names one pseudonym instead ("erased person 7").',
      'First their pending approvals end or move: withdrawn where they are the requester or a card holder; as an approver, their part goes to the',
      "operation's approver group, and without anyone there who may take it the approval is withdrawn. Prints what it changed; run again, it changes nothing.",
      'Events already on Kafka, emails already delivered and backups are not reached. Operators only.',
    ].join('\n'),
    options: { person: { type: 'string', value: 'ID|EMAIL', required: true, description: 'their id or email address' }, ...API_WRITE_OPTIONS },
    run: async ({ options }, config) => {
      const report = await callApi(targetOf(options, config), { method: 'POST', path: 'api/personal-data/erasures', body: { person: options.person }, expected: 200, what: 'the erasure', answer: S.Erasure });
      console.log(JSON.stringify(report, null, 2));
      console.error(report.pseudonym ? `erased: now ${report.pseudonym.name}; ${report.withdrawn.length} withdrawn, ${report.reassigned.length} reassigned` : 'nothing names this person: nothing changed');
    },
  }),
  command({
    name: 'export',
    reaches: 'api',
    description: "Writes every record, decision, history entry, delegation and email naming one person as JSON, for their access request (POST /api/personal-data/exports). Operators only.",
    options: { person: { type: 'string', value: 'ID|EMAIL', required: true, description: 'their id or email address' }, ...API_OPTIONS },
    run: async ({ options }, config) => {
      const found = await callApi(targetOf(options, config), { method: 'POST', path: 'api/personal-data/exports', body: { person: options.person }, expected: 200, what: 'the export', answer: S.PersonalData });
      console.log(JSON.stringify(found, null, 2));
    },
  }),
  command({
    name: 'audit verify',
    reaches: 'api',
    description: [
      "Recomputes each request's history chain (GET /api/audit/verification, page after page) and names every entry changed, removed or inserted in the middle; exits 1 when it finds any. Operators only.",
      'Prints the counts: requests, entries, digests of erased people (not checked, no problem), entries whose reason an erasure redacted, requests that never came whose oldest entries retention removed.',
      'It cannot see the newest entries of a chain removed, or a whole history: compare with the heads published (audit heads).',
    ].join('\n'),
    oneOf: ['request', 'since', 'all'],
    options: {
      request: { type: 'string', value: 'ID', description: 'this request' },
      since: { type: 'string', value: 'DATE', description: 'the requests with a history entry at or after this time (ISO 8601: 2026-12-01 or 2026-12-01T08:00:00Z)' },
      all: { type: 'boolean', description: 'every request' },
      ...API_OPTIONS,
    },
    run: async ({ options }, config) => {
      const target = targetOf(options, config);
      const totals = { requests: 0, entries: 0, erasedDigests: 0, redacted: 0, trimmed: 0, problems: 0 };
      let cursor: string | null = null;
      do {
        const query = new URLSearchParams();
        if (options.request !== undefined) query.set('request', options.request);
        if (options.since !== undefined) query.set('since', options.since);
        if (cursor !== null) query.set('cursor', cursor);
        const page: z.infer<typeof S.AuditVerification> = await callApi(target, { method: 'GET', path: `api/audit/verification?${query}`, expected: 200, what: 'the verification', answer: S.AuditVerification });
        for (const p of page.problems) {
          const gap = p.kind === 'REMOVED' ? ` (after ${p.after ? `seq ${p.after.seq}, event ${p.after.eventId}` : 'nothing: at the start'}; missing ${p.missingHash})` : '';
          console.log(`${p.kind.padEnd(8)} ${p.requestId}  seq ${p.seq}  event ${p.eventId}${gap}\n    ${p.detail}`);
        }
        for (const name of ['requests', 'entries', 'erasedDigests', 'redacted', 'trimmed'] as const) totals[name] += page[name];
        totals.problems += page.problems.length;
        cursor = page.nextCursor;
      } while (cursor !== null);
      console.log(`${totals.requests} request(s), ${totals.entries} entries, ${totals.erasedDigests} erased digest(s), ${totals.redacted} redacted, ${totals.trimmed} trimmed by retention`);
      if (totals.problems > 0) throw new Error(`the audit trail does not verify: ${totals.problems} entr${totals.problems === 1 ? 'y does' : 'ies do'} not fit (above)`);
      console.log('every chain holds');
    },
  }),
  command({
    name: 'audit export',
    reaches: 'api',
    description: [
      'Writes the decisions applied since a time to stdout, oldest first (GET /api/audit/decisions, page after page): who decided what and when, acting as what, for whom, and why. Operators only.',
      'csv: RFC 4180 with a header line (a field a spreadsheet would take for a formula begins with an apostrophe); json: one array, the text as it is.',
    ].join('\n'),
    options: {
      since: { type: 'string', value: 'DATE', required: true, description: 'decisions applied at or after this time (ISO 8601)' },
      format: { type: 'string', value: S.AUDIT_FORMATS.join('|'), required: true, description: 'csv or json' },
      ...API_OPTIONS,
    },
    run: async ({ options }, config) => {
      const format = S.AUDIT_FORMATS.find((f) => f === options.format);
      if (format === undefined) throw new UsageError(`--format is ${S.AUDIT_FORMATS.join(' or ')}, not ${options.format}`);
      const target = targetOf(options, config);
      let cursor: string | null = null;
      let count = 0;
      do {
        // Pages are read as JSON and written out as they come, in the format asked for.
        const query = new URLSearchParams({ since: options.since, format: 'json', ...(cursor !== null ? { cursor } : {}) });
        const page: z.infer<typeof S.AuditDecisions> = await callApi(target, { method: 'GET', path: `api/audit/decisions?${query}`, expected: 200, what: 'the export', answer: S.AuditDecisions });
        if (format === 'csv') process.stdout.write(decisionsCsv(page.items, count === 0 && cursor === null));
        else for (const [i, item] of page.items.entries()) process.stdout.write(`${count + i === 0 ? '[\n' : ',\n'}${JSON.stringify(item)}`);
        count += page.items.length;
        cursor = page.nextCursor;
      } while (cursor !== null);
      if (format === 'json') process.stdout.write(count === 0 ? '[]\n' : '\n]\n');
      console.error(`${count} decision(s) since ${options.since}`);
    },
  }),
  command({
    name: 'audit heads',
    reaches: 'api',
    description: [
      "Prints each request's newest history hash at the end of a day (UTC), for the requests with an entry that day (GET /api/audit/heads): one line each, request id, seq and hash. Operators only.",
      "Publish them where the database's writers cannot change them (another system, a signed mail, a ticket): a chain recomputed later must still pass through each.",
    ].join('\n'),
    options: { date: { type: 'string', value: 'YYYY-MM-DD', required: true, description: 'the day, UTC' }, ...API_OPTIONS },
    run: async ({ options }, config) => {
      const target = targetOf(options, config);
      let cursor: string | null = null;
      let count = 0;
      do {
        const query = new URLSearchParams({ date: options.date, ...(cursor !== null ? { cursor } : {}) });
        const page: z.infer<typeof S.AuditHeads> = await callApi(target, { method: 'GET', path: `api/audit/heads?${query}`, expected: 200, what: 'the heads', answer: S.AuditHeads });
        for (const h of page.items) console.log(`${h.requestId} ${h.seq} ${h.hash ?? '-'}`);
        count += page.items.length;
        cursor = page.nextCursor;
      } while (cursor !== null);
      console.error(`${count} head(s) of ${options.date}`);
    },
  }),
  command({
    name: 'dead-letters list',
    reaches: 'kafka',
    description: 'Lists dead letters with their reason and source.',
    options: { reason: { type: 'string', value: 'R', description: 'only those dead-lettered for this reason (NO_APPROVERS, WORKER_DEFECT …)' } },
    run: async ({ options }, config) => {
      const letters = await readDeadLetters(config, options.reason);
      for (const { partition, message, headers } of letters) {
        console.log(
          `${partition}:${message.offset}  ${headers['dlq.reason']}  from ${headers['dlq.source.topic']}[${headers['dlq.source.partition']}]@${headers['dlq.source.offset']}  ${headers['dlq.time']}\n    ${headers['dlq.detail']}`,
        );
      }
      console.log(`${letters.length} dead letter(s)`);
    },
  }),
  command({
    name: 'dead-letters replay',
    reaches: 'kafka',
    description: 'Sends dead letters back to their source topic unchanged, after a fix.',
    oneOf: ['offset', 'reason', 'all'],
    options: {
      offset: { type: 'string', value: 'PARTITION:OFFSET', description: 'this dead letter' },
      reason: { type: 'string', value: 'R', description: 'those dead-lettered for this reason' },
      all: { type: 'boolean', description: 'every dead letter' },
    },
    run: async ({ options }, config) => {
      const letters = await readDeadLetters(config, options.reason);
      const chosen = options.offset !== undefined ? letters.filter((l) => `${l.partition}:${l.message.offset}` === options.offset) : letters;
      if (chosen.length === 0) throw new UsageError('no dead letter matches');
      const producer = createProducer(createKafka(config.kafka, createLogger('silent'), 'card-approvals-cli'));
      await producer.connect();
      for (const { partition, message, headers } of chosen) {
        const source = headers['dlq.source.topic'];
        if (!source) continue;
        // The original key and value go back unchanged; a header says where the replay came from.
        await producer.send({
          topic: source,
          acks: -1,
          messages: [{ key: message.key, value: message.value, headers: { 'dlq.replayed-from': `${config.topics.deadLetter}:${partition}:${message.offset}` } }],
        });
        console.log(`replayed ${partition}:${message.offset} (${headers['dlq.reason']}) to ${source}`);
      }
      await producer.disconnect();
    },
  }),
];

async function main(argv: string[]): Promise<void> {
  // An option a command that acts through the API does not take cannot make it act as someone else.
  const parsed = parseCommandLine(COMMANDS, argv, (c) => (c.reaches === 'api' ? 'the person acting is the one the token names' : undefined));
  if ('help' in parsed) {
    console.log(parsed.help);
    return;
  }
  const { form, input } = parsed;
  // In production each command needs only the settings of what it reaches.
  await form.run(input, loadConfig(process.env, REACHES[form.reaches].needs));
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof UsageError || error instanceof ConfigError ? error.message : `card-approvals: ${errorMessage(error)}`);
    // 2: the command was wrong; 1: it ran and failed (the API refused, a dependency is away).
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
