#!/usr/bin/env node
// `card-approvals`: the operators' command line. Every command takes the worker's environment
// variables (topics, brokers, registry, database). Run `card-approvals help` for the list.
import { randomUUID } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { decisionPublisher } from '../../adapters/kafka/decision-publisher';
import { createKafka, createProducer, createWatcher } from '../../adapters/kafka/kafka-client';
import { AvroCodec, type SchemaName } from '../../adapters/schema-registry/avro-codec';
import { ApprovalQueries } from '../../data-access/approval-queries';
import { createDataSource } from '../../data-access/data-source';
import { DECISIONS, OPERATIONS, type DecisionKind } from '../../domain/card-operation';
import { ConfigError, loadConfig, type Config } from '../../libraries/config';
import { errorMessage } from '../../libraries/errors';
import { createLogger } from '../../libraries/logger';
import { mintLocalToken, type Role } from '../http/auth';

const HELP: Record<string, string> = {
  token: 'token --id ID --name NAME --email EMAIL [--roles approver,operator] [--ttl 8h]\n  Mints a local bearer token signed with AUTH_SECRET.',
  tail: 'tail TOPIC [--from-beginning] [--json] [--request ID] [--max N]\n  Prints a topic decoded through the registry. TOPIC: events, decisions, dead-letter, an operation (lock-card …) or a topic name.',
  requests: 'requests list [--status S] [--operation O] [--q TEXT] [--page N]\n  Lists approval requests.\nrequests show ID\n  One request with its history.',
  decide: 'decide ID APPROVED|REJECTED|POSTPONED --id ID --name NAME --email EMAIL [--reason TEXT]\n  Publishes a decision as that approver (local use).',
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
    const result = await queries.search({
      status: str('status'),
      operation: str('operation'),
      text: str('q'),
      page: Number(str('page') ?? 1),
      pageSize: 50,
      sort: '-opened_at',
    });
    for (const r of result.items) {
      console.log(`${r.requestId}  ${r.operation.padEnd(22)} ${r.status.padEnd(8)} ${new Date(r.openedAt).toISOString()}  ${r.requester.name}`);
    }
    console.log(`${result.items.length} of ${result.totalCapped ? 'more than ' : ''}${result.total}`);
  } finally {
    await dataSource.destroy();
  }
}

async function decide(config: Config, positional: string[], flags: Map<string, string | true>): Promise<void> {
  const [requestId, decision] = positional;
  if (!requestId || !DECISIONS.includes(decision as DecisionKind)) throw new UsageError(usage('decide'));
  const approver = { id: need(flags, 'id', 'decide'), name: need(flags, 'name', 'decide'), email: need(flags, 'email', 'decide'), locale: null };
  const reason = typeof flags.get('reason') === 'string' ? (flags.get('reason') as string) : null;
  const producer = createProducer(createKafka(config.kafka, createLogger('silent'), 'card-approvals-cli'));
  await producer.connect();
  const decisionId = randomUUID();
  const publish = decisionPublisher({ codec: new AvroCodec(config.schemaRegistryUrl), producer, topic: config.topics.decisions });
  await publish({ decisionId, requestId, decision: decision as DecisionKind, approver, reason, decidedAt: Date.now() }).finally(() => producer.disconnect());
  console.log(`published decision ${decisionId}: ${decision} on ${requestId} as ${approver.id}`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { positional, flags } = parse(rest);
  if (!command || command === 'help' || flags.has('help')) {
    console.log(usage(command === 'help' ? positional[0] : command));
    return;
  }
  const config = loadConfig();
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
    case 'requests':
      return requests(config, positional, flags);
    case 'decide':
      return decide(config, positional, flags);
    default:
      throw new UsageError(`unknown command ${command}\n${usage()}`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof UsageError || error instanceof ConfigError ? error.message : `card-approvals: ${errorMessage(error)}`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
