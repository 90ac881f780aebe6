#!/usr/bin/env node
// `card-approvals`: the operators' command line. Every command takes the worker's environment
// variables (topics, brokers, registry, database). Run `card-approvals help` for the list.
// Deciding is the one thing it does as a person: it goes through the worker's API with that
// person's bearer token, like the page does, so the API's rules (identity from the token, only a
// request's approvers) hold for it too; so does reassigning. It never publishes a decision itself.
import { randomUUID } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { checkBrokerAccepts, createKafka, createProducer, createWatcher } from '../../adapters/kafka/kafka-client';
import { AvroCodec, type SchemaName } from '../../adapters/schema-registry/avro-codec';
import { ApprovalQueries } from '../../data-access/approval-queries';
import { OperationalQueries } from '../../data-access/operational-queries';
import { createDataSource } from '../../data-access/data-source';
import { EventOutbox } from '../../data-access/event-outbox';
import { InvalidCursorError, decodeCursor, encodeCursor, type Position } from '../../data-access/request-order';
import { DECISION_KINDS, OPERATIONS, type DecisionKind } from '../../domain/card-operation';
import { ConfigError, loadConfig, shownValue, type Config } from '../../libraries/config';
import { errorMessage } from '../../libraries/errors';
import { createLogger } from '../../libraries/logger';
import { mintLocalToken, type Role } from '../http/auth';

const HELP: Record<string, string> = {
  token: 'token --id ID --name NAME --email EMAIL [--roles approver,requester,operator] [--ttl 8h]\n  Mints a local bearer token signed with AUTH_SECRET.',
  tail: 'tail TOPIC [--from-beginning] [--json] [--request ID] [--max N]\n  Prints a topic decoded through the registry. TOPIC: events, decisions, dead-letter, an operation (lock-card …) or a topic name.',
  requests:
    'requests list [--status S] [--operation O] [--q TEXT] [--cursor C]\n  Lists approval requests, newest first, 50 at a time; the last line gives the cursor of the next 50.\nrequests show ID\n  One request with its history.',
  decide:
    'decide ID APPROVED|REJECTED|POSTPONED|WITHDRAWN [--reason TEXT] [--token JWT] [--api URL]\n' +
    "  Decides through the worker's API as the person the token names (POST /api/requests/ID/decisions) and prints the decisionId.\n" +
    '  WITHDRAWN ends a pending request CANCELLED: an operator\'s token may withdraw any, a requester\'s token only their own.\n' +
    '  The token comes from --token or CARD_APPROVALS_TOKEN (prefer the variable: arguments show in the process list);\n' +
    '  the API from --api or CARD_APPROVALS_API_URL (default http://127.0.0.1:8080). There is no flag to decide as someone else.',
  reassign:
    'reassign (ID | --all) --from APPROVER_ID --to-id ID --to-name NAME --to-email EMAIL [--token JWT] [--api URL]\n' +
    "  Hands an approver's part in one request (ID), or in all their open requests (--all), to another person, through the worker's API\n" +
    '  with an operator\'s token (POST /api/requests/ID/reassign, POST /api/reassignments). Recorded in each request\'s history as REASSIGNED.',
  events:
    'events parked\n  Lists events parked because they could not be published, with the reason and how many later events of their request wait behind each.\n' +
    'events unpark (--event EVENT_ID | --all)\n  Puts parked events back in the queue, after the cause was fixed (the topic\'s size limit, say); they and the events behind them are then published in order.',
  timers:
    'timers parked\n  Lists approvals whose timers (reminder, escalation, expiry) were parked because firing them failed on their own, with the reason.\n' +
    'timers unpark (--request REQUEST_ID | --all)\n  Puts parked timers back, after the cause was fixed; what is due fires at the next poll.',
  'dead-letters':
    'dead-letters list [--reason R]\n  Lists dead letters with their reason and source.\ndead-letters replay (--offset PARTITION:OFFSET | --reason R | --all)\n  Sends dead letters back to their source topic unchanged, after a fix.',
};

function usage(command?: string): string {
  if (command && HELP[command]) return `usage: card-approvals ${HELP[command]}`;
  return `usage: card-approvals COMMAND [options]   (card-approvals help COMMAND)\n\n${Object.values(HELP).join('\n\n')}`;
}

class UsageError extends Error {}

function parse(argv: string[]): { positional: string[]; flags: Map<string, string | true> } {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) positional.push(arg);
    else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) flags.set(arg.slice(2), argv[++i]!);
    else flags.set(arg.slice(2), true);
  }
  return { positional, flags };
}

function need(flags: Map<string, string | true>, name: string, command: string): string {
  const value = flags.get(name);
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} is required\n${usage(command)}`);
  return value;
}

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

async function tail(config: Config, positional: string[], flags: Map<string, string | true>): Promise<void> {
  const alias = positional[0];
  if (!alias) throw new UsageError(usage('tail'));
  const { topic, schema } = resolveTopic(config, alias);
  const codec = new AvroCodec(config.schemaRegistryUrl);
  const only = flags.get('request');
  const max = Number(flags.get('max') ?? Infinity);
  let printed = 0;
  const fromBeginning = flags.has('from-beginning');
  await readTopic(config, topic, { fromBeginning, follow: !fromBeginning || flags.has('follow') }, async (message, partition) => {
    const key = message.key?.toString() ?? null;
    if (typeof only === 'string' && key !== only) return;
    let value: unknown;
    try {
      value = schema ? await codec.decode(message.value, schema) : { bytes: message.value?.length ?? 0 };
    } catch (error) {
      value = { undecodable: errorMessage(error) };
    }
    const line = { partition, offset: message.offset, key, headers: headersOf(message), value };
    console.log(flags.has('json') ? JSON.stringify(line) : `${topic}[${partition}]@${message.offset} key=${key}\n${JSON.stringify(value, null, 2)}`);
    printed += 1;
    return printed >= max;
  });
}

async function deadLetters(config: Config, positional: string[], flags: Map<string, string | true>): Promise<void> {
  const action = positional[0];
  const reason = flags.get('reason');
  const letters: Array<{ partition: number; message: KafkaMessage; headers: Record<string, string> }> = [];
  await readTopic(config, config.topics.deadLetter, { fromBeginning: true, follow: false }, async (message, partition) => {
    const headers = headersOf(message);
    if (typeof reason === 'string' && headers['dlq.reason'] !== reason) return;
    letters.push({ partition, message, headers });
  });
  if (action === 'list') {
    for (const { partition, message, headers } of letters) {
      console.log(
        `${partition}:${message.offset}  ${headers['dlq.reason']}  from ${headers['dlq.source.topic']}[${headers['dlq.source.partition']}]@${headers['dlq.source.offset']}  ${headers['dlq.time']}\n    ${headers['dlq.detail']}`,
      );
    }
    console.log(`${letters.length} dead letter(s)`);
    return;
  }
  if (action !== 'replay') throw new UsageError(usage('dead-letters'));
  const offset = flags.get('offset');
  if (typeof offset !== 'string' && typeof reason !== 'string' && !flags.has('all')) throw new UsageError(usage('dead-letters'));
  const chosen = typeof offset === 'string' ? letters.filter((l) => `${l.partition}:${l.message.offset}` === offset) : letters;
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
}

async function requests(config: Config, positional: string[], flags: Map<string, string | true>): Promise<void> {
  const dataSource = await createDataSource(config.databaseUrl, 1).initialize();
  try {
    const queries = new ApprovalQueries(dataSource);
    if (positional[0] === 'show' && positional[1]) {
      const found = await queries.get(positional[1]);
      if (!found) throw new UsageError(`no request ${positional[1]}`);
      console.log(JSON.stringify(found, null, 2));
      return;
    }
    if (positional[0] !== 'list') throw new UsageError(usage('requests'));
    const str = (name: string): string | undefined => (typeof flags.get(name) === 'string' ? (flags.get(name) as string) : undefined);
    const cursor = str('cursor');
    let after: Position | undefined;
    try {
      after = cursor === undefined ? undefined : decodeCursor(cursor, '-opened_at');
    } catch (error) {
      if (error instanceof InvalidCursorError) throw new UsageError(`--cursor: ${error.message}`);
      throw error;
    }
    const result = await queries.search({ status: str('status'), operation: str('operation'), text: str('q'), sort: '-opened_at', after, limit: 50 });
    for (const r of result.items) {
      console.log(`${r.requestId}  ${r.operation.padEnd(22)} ${r.status.padEnd(8)} ${new Date(r.openedAt).toISOString()}  ${r.requester.name}`);
    }
    console.log(`${result.items.length} of ${result.totalCapped ? 'more than ' : ''}${result.total}${result.next ? `; next: --cursor ${encodeCursor(result.next)}` : ''}`);
  } finally {
    await dataSource.destroy();
  }
}

async function parkedEvents(config: Config, positional: string[], flags: Map<string, string | true>): Promise<void> {
  const action = positional[0];
  const event = flags.get('event');
  if (action !== 'parked' && !(action === 'unpark' && (typeof event === 'string' || flags.has('all')))) throw new UsageError(usage('events'));
  const dataSource = await createDataSource(config.databaseUrl, 1).initialize();
  try {
    const outbox = new EventOutbox(dataSource, config.outboxLeaseMs);
    if (action === 'unpark') {
      console.log(`${await outbox.unpark(typeof event === 'string' ? [event] : 'all')} event(s) back in the queue`);
      return;
    }
    const parked = await outbox.parked();
    for (const p of parked) {
      console.log(`${p.parkedAt}  ${p.eventId}  ${p.type} of ${p.requestId}  after ${p.attempts} attempt(s); ${p.waitingBehind} later event(s) waiting\n    ${p.error ?? ''}`);
    }
    console.log(`${parked.length} parked event(s)`);
  } finally {
    await dataSource.destroy();
  }
}

async function parkedTimers(config: Config, positional: string[], flags: Map<string, string | true>): Promise<void> {
  const action = positional[0];
  const request = flags.get('request');
  if (action !== 'parked' && !(action === 'unpark' && (typeof request === 'string' || flags.has('all')))) throw new UsageError(usage('timers'));
  const dataSource = await createDataSource(config.databaseUrl, 1).initialize();
  try {
    const queries = new OperationalQueries(dataSource);
    if (action === 'unpark') {
      console.log(`${await queries.unparkTimers(typeof request === 'string' ? [request] : 'all')} timer(s) back; they fire at the next poll`);
      return;
    }
    const parked = await queries.parkedTimers();
    for (const p of parked) console.log(`${new Date(p.parkedAt).toISOString()}  ${p.requestId}  after ${p.attempts} attempt(s)\n    ${p.error ?? ''}`);
    console.log(`${parked.length} parked timer(s)`);
  } finally {
    await dataSource.destroy();
  }
}

const DECIDE_FLAGS = ['reason', 'token', 'api'];
const REASSIGN_FLAGS = ['from', 'to-id', 'to-name', 'to-email', 'all', 'token', 'api'];

/** Flags a command does not take are refused (there is no flag to act as someone else); valued flags need a value. */
function checkFlags(command: string, flags: Map<string, string | true>, known: string[], switches: string[] = []): void {
  const unknown = [...flags.keys()].filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new UsageError(`${command} takes no ${unknown.map((f) => `--${f}`).join(', ')}: the person acting is the one the token names\n${usage(command)}`);
  }
  for (const name of known) {
    if (!switches.includes(name) && flags.get(name) === true) throw new UsageError(`--${name} needs a value\n${usage(command)}`);
  }
}

/** Calls the worker's API as the person the token names; returns the answer's JSON, or throws with the API's code and message. */
async function callApi(config: Config, flags: Map<string, string | true>, path: string, body: unknown, expected: number, what: string): Promise<Record<string, unknown>> {
  const token = (flags.get('token') as string | undefined) ?? config.cli.token;
  const api = (flags.get('api') as string | undefined) ?? config.cli.apiUrl;
  if (!URL.canParse(api) || !['http:', 'https:'].includes(new URL(api).protocol)) throw new UsageError(`--api "${shownValue(api)}" is not an http(s) URL`);
  if (new URL(api).username || new URL(api).password) throw new UsageError(`--api "${shownValue(api)}" must not hold a user or password: send a token`);
  const url = new URL(path, api.endsWith('/') ? api : `${api}/`);
  // Without a token the API still gets the call: it is the one that says what is missing.
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach the API at ${url.origin} (${cause?.code ?? cause?.message ?? errorMessage(error)}); set --api or CARD_APPROVALS_API_URL`);
  }
  const text = await res.text();
  let answer: Record<string, unknown> = {};
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON: reported below with the status
  }
  if (res.status !== expected) {
    const said = typeof answer.error === 'string' ? `${answer.error}: ${String(answer.message)}` : text.slice(0, 200) || res.statusText;
    const hint = res.status === 401 ? '\n  pass a token with --token or CARD_APPROVALS_TOKEN (locally: card-approvals token --id … mints one)' : '';
    // The API's code and message are what the operator needs to see.
    throw new Error(`the API refused the ${what}: ${res.status} ${said}${hint}`);
  }
  return answer;
}

async function decide(config: Config, positional: string[], flags: Map<string, string | true>): Promise<void> {
  const [requestId, decision] = positional;
  if (!requestId || !DECISION_KINDS.includes(decision as DecisionKind) || decision === 'REASSIGNED' || positional.length > 2) throw new UsageError(usage('decide'));
  checkFlags('decide', flags, DECIDE_FLAGS);
  const reason = flags.get('reason') as string | undefined;
  const body = await callApi(config, flags, `api/requests/${encodeURIComponent(requestId)}/decisions`, { decision, ...(reason !== undefined ? { reason } : {}) }, 202, 'decision');
  if (typeof body.decisionId !== 'string') throw new Error('the API accepted the decision without a decisionId');
  console.log(body.decisionId);
  console.error(`decision ${body.decisionId} accepted: ${decision} on ${requestId}; the worker applies it from the decisions topic`);
}

/** An operator hands one approver's part in one request, or in all their open requests, to another person. */
async function reassign(config: Config, positional: string[], flags: Map<string, string | true>): Promise<void> {
  checkFlags('reassign', flags, REASSIGN_FLAGS, ['all']);
  const all = flags.get('all') === true;
  if ((all ? positional.length !== 0 : positional.length !== 1) || typeof flags.get('from') !== 'string') throw new UsageError(usage('reassign'));
  const to = { id: need(flags, 'to-id', 'reassign'), name: need(flags, 'to-name', 'reassign'), email: need(flags, 'to-email', 'reassign') };
  const body = { from: flags.get('from'), to };
  if (!all) {
    const answer = await callApi(config, flags, `api/requests/${encodeURIComponent(positional[0]!)}/reassign`, body, 202, 'reassignment');
    console.log(answer.decisionId);
    console.error(`reassignment ${String(answer.decisionId)} accepted on ${positional[0]}: ${String(body.from)} -> ${to.id}`);
    return;
  }
  const answer = (await callApi(config, flags, 'api/reassignments', body, 200, 'reassignment')) as { reassigned?: string[]; refused?: Array<{ requestId: string; error: string; message: string }>; more?: boolean };
  for (const id of answer.reassigned ?? []) console.log(id);
  for (const r of answer.refused ?? []) console.error(`not reassigned: ${r.requestId}: ${r.error}: ${r.message}`);
  console.error(`${answer.reassigned?.length ?? 0} request(s) reassigned from ${String(body.from)} to ${to.id}${answer.more ? '; more remain: run it again' : ''}`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { positional, flags } = parse(rest);
  if (!command || command === 'help' || flags.has('help')) {
    console.log(usage(command === 'help' ? positional[0] : command));
    return;
  }
  // In production each command needs only the settings of what it reaches: Kafka, the database, or the worker's API.
  const reaches: Record<string, string[]> = { tail: ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL'], 'dead-letters': ['KAFKA_BROKERS'], events: ['DATABASE_URL'], timers: ['DATABASE_URL'], requests: ['DATABASE_URL'] };
  const config = loadConfig(process.env, reaches[command] ?? []);
  switch (command) {
    case 'token': {
      const roles = String(flags.get('roles') ?? 'approver').split(',') as Role[];
      const identity = { id: need(flags, 'id', 'token'), name: need(flags, 'name', 'token'), email: need(flags, 'email', 'token'), roles };
      console.log(await mintLocalToken(config.auth, identity, String(flags.get('ttl') ?? '8h')));
      return;
    }
    case 'tail':
      return tail(config, positional, flags);
    case 'dead-letters':
      return deadLetters(config, positional, flags);
    case 'events':
      return parkedEvents(config, positional, flags);
    case 'timers':
      return parkedTimers(config, positional, flags);
    case 'requests':
      return requests(config, positional, flags);
    case 'decide':
      return decide(config, positional, flags);
    case 'reassign':
      return reassign(config, positional, flags);
    default:
      throw new UsageError(`unknown command ${command}\n${usage()}`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof UsageError || error instanceof ConfigError ? error.message : `card-approvals: ${errorMessage(error)}`);
    // 2: the command was wrong; 1: it ran and failed (the API refused, a dependency is away).
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
