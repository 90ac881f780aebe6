// The one place that reads the environment. Every setting is declared once (here, and by subject
// in kafka-security.ts, sign-in.ts and policies.ts); loadConfig validates them all at start-up
// and stops the process with one line per problem, naming its variable and never a secret. With
// NODE_ENV=production, the settings production needs must be given: their defaults serve
// development only. docs/configuration.md is generated from these declarations.
import os from 'node:os';
import { z } from 'zod';
import { OPERATION_FACTS, OPERATIONS, type Operation } from '../../domain/card-operation';
import { MAX_CARDS_EVER, isEmailAddress } from '../../domain/validate-message';
import { KAFKA_SECURITY_SETTINGS, readKafkaSecurity, type KafkaSasl, type KafkaTls } from './kafka-security';
import { POLICY_SETTINGS, byOperation, readPolicies, type Policies } from './policies';
import { duration, flag, int, json, oneOf, optional, readSettings, referenceTable, setting, text, url, type Settings } from './settings';
import { SIGN_IN_SETTINGS, readSignIn, type AuthSettings } from './sign-in';

export type { KafkaSasl, KafkaTls } from './kafka-security';
export { SASL_MECHANISMS } from './kafka-security';
export type { OidcSignInSettings } from './sign-in';
export { shownValue } from './settings';

export interface TopicNames {
  requests: Record<Operation, string>;
  decisions: string;
  events: string;
  deadLetter: string;
}

/** How long each topic keeps its messages (retention.ms), set when the worker creates its topics. */
export type TopicRetention = Record<'requests' | 'decisions' | 'events' | 'deadLetter', number>;

/** What one process runs (ROLE): everything, the consumer and what serves its decisions, or the email relay and maintenance. */
export const ROLES = ['all', 'consumer', 'relays'] as const;
export type Role = (typeof ROLES)[number];

export interface Config extends Policies {
  /** NODE_ENV=production: no development defaults, no local sign-in. */
  production: boolean;
  /** What this process runs (ROLE). */
  role: Role;
  kafka: {
    brokers: string[];
    clientId: string;
    groupId: string;
    partitions: number;
    replicationFactor: number;
    retentionMs: TopicRetention;
    /** Whether the worker creates missing topics (false: it checks that they exist, and refuses to start otherwise). */
    createTopics: boolean;
    sessionTimeoutMs: number;
    partitionsConcurrently: number;
    ssl: KafkaTls | undefined;
    sasl: KafkaSasl | undefined;
  };
  topics: TopicNames;
  /** What the events on the events topic carry of people: everything (`full`), or their ids only (`ids`). */
  eventPersonalData: 'full' | 'ids';
  schemaRegistryUrl: string;
  /** Whether the worker registers its schemas and sets their compatibility (false: it only looks them up). */
  registerSchemas: boolean;
  databaseUrl: string;
  /** Whether the worker migrates the database at start-up (false: it checks that the schema is current). */
  migrate: boolean;
  smtp: { url: string; from: string; replyTo: string | undefined; messageIdDomain: string; maxConnections: number; sendTimeoutMs: number };
  /** Where the worker listens; health and metrics on a port of their own where metricsPort is set. */
  http: { host: string; port: number; metricsPort: number | undefined };
  /** The operators' CLI: the worker's API its commands on records call, and the bearer token it sends (CARD_APPROVALS_TOKEN). */
  cli: { apiUrl: string; token: string | undefined };
  auth: AuthSettings;
  operatorUrl: string;
  /** The emails' language when the recipient has none (per operation, then the worker's), and their time zone. */
  emailLanguage: { defaultLocale: string; operationLocales: Partial<Record<Operation, string>>; timeZone: string };
  /** One-click decision links in approver emails (EMAIL_LINK_SECRET set): the first key signs, every key verifies. */
  emailLinks: { secrets: string[]; ttlMs: number } | undefined;
  /** How long the API keeps a caller's Idempotency-Key and its answer. */
  idempotencyKeyTtlMs: number;
  /** How long each kind of row stays, and how often retention runs. */
  retention: { outboxMs: number; closedApprovalMs: number; delegationMs: number; intervalMs: number };
  maxCardsPerRequest: number;
  unknownRequestWindowMs: number;
  /** How long a relay's claim on outbox rows lasts; a crashed worker's rows wait this long. */
  outboxLeaseMs: number;
  /** The largest send to the events topic; unset: the topic's own max.message.bytes, read at start. */
  eventsMaxBatchBytes: number | undefined;
  /** How long a statement waits for a lock before it fails (and its partition retries later). */
  databaseLockTimeoutMs: number;
  /** Named (prepared) statements for the hot queries; off behind an old transaction-mode pooler. */
  databasePreparedStatements: boolean;
  /** A partition with work waiting this long and no batch completing makes the worker not ready. */
  partitionStalledAfterMs: number;
  /** How long start-up waits for each dependency to answer. */
  startupWaitMs: number;
  logLevel: string;
  /** The access log: where its lines go (ACCESS_LOG), and the key of its search-term hashes. */
  accessLog: { destination: string; hashKey: string };
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    // One line per problem, each saying what it is about.
    super(problems.map((p) => `invalid configuration: ${p}`).join('\n'));
    this.name = 'ConfigError';
  }
}


const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, { error: 'is not a valid Kafka topic name' });
const topicSetting = (what: string, suffix: string) =>
  optional({ kind: 'Kafka topic name', doc: `The ${what} topic. Default: TOPIC_PREFIX + \`${suffix}\`.`, schema: topicName });
const brokers = z
  .string()
  .transform((v) => v.split(',').map((b) => b.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, { error: 'must be a list of host:port' })).min(1, { error: 'must be a list of host:port' }));
const LOCALE_TAG = /^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$/;
const locale = z.string({ error: 'must be a language tag such as en, sv or de-AT' }).regex(LOCALE_TAG, { error: 'must be a language tag such as en, sv or de-AT' });
const timeZone = z.string().refine((zone) => Intl.supportedValuesOf('timeZone').includes(zone) || zone === 'UTC', { error: 'is not an IANA time zone such as Europe/Stockholm or UTC' });
const retention = (what: string, byDefault: string) =>
  setting({ kind: 'duration from 1h to 3650d', doc: `How long messages stay in the ${what} (retention.ms), set when the worker creates its topics; whoever provisions the topics sets it there.`, schema: duration(3_600_000, 3650 * 86_400_000), default: byDefault });

/** The settings of connections, topics, emails, the page and the worker's limits (the others: see the imports). */
export const WORKER_SETTINGS = {
  NODE_ENV: optional({ kind: 'text', doc: 'production: every setting marked required must be given, and local sign-in is refused. The image sets it.', schema: text() }),
  ROLE: setting({ kind: 'all, consumer or relays', doc: 'What this process runs. `all`: everything, in one process. `consumer`: the Kafka consumer (requests and decisions), the timers, the event relay (events go out right after their batch commits), the API, the page, the probes and the metrics; no email is rendered or sent. `relays`: the email relay (rendering and SMTP), retention and the expiry of Idempotency-Keys, with the probes and the metrics only; no Kafka consumer, broker or registry, and readiness depends on the database alone; production asks it for none of the settings of the broker, the registry or the API, and asks `consumer` for no SMTP setting. Run at least one process of each when the roles are split (docs/production.md, "Scaling").', schema: oneOf(ROLES), default: 'all' }),
  KAFKA_BROKERS: setting({ kind: 'comma-separated host:port', doc: 'The Kafka brokers.', schema: brokers, default: '127.0.0.1:9092', requiredInProduction: true }),
  KAFKA_CLIENT_ID: optional({ kind: 'text', doc: 'The Kafka client id. Default: card-approval-worker-<host name>.', schema: text() }),
  KAFKA_GROUP_ID: setting({ kind: 'text', doc: 'The consumer group.', schema: text(), default: 'card-approval-worker' }),
  KAFKA_SESSION_TIMEOUT_MS: setting({ kind: 'integer from 6000 to 300000', doc: 'The consumer session timeout; the worker heartbeats during long transactions.', schema: int(6000, 300_000), default: '30000' }),
  KAFKA_PARTITIONS_CONCURRENTLY: setting({ kind: 'integer from 1 to 100', doc: 'Partitions one worker processes at once (the image sizes the old generation at half the container\'s memory limit: 160 MB at the manifests\' 320 MiB, which keeps peak memory near 200 MB at 10; see BENCHMARKS.md).', schema: int(1, 100), default: '10' }),
  KAFKA_CREATE_TOPICS: setting({ kind: 'true or false', doc: 'Create missing topics at start-up (needs the right to create topics). With false the worker checks that its topics exist and refuses to start otherwise, naming them.', schema: flag(), default: 'true' }),
  TOPIC_PREFIX: setting({ kind: 'text', doc: 'Prefixed to every default topic name.', schema: text(), default: '' }),
  ...(Object.fromEntries(OPERATIONS.map((op) => [`TOPIC_${op}`, topicSetting(`${op} requests'`, `card-operations.${OPERATION_FACTS[op].topic}`)])) as Record<`TOPIC_${Operation}`, ReturnType<typeof topicSetting>>),
  TOPIC_DECISIONS: topicSetting('decisions', 'card-approvals.decisions'),
  TOPIC_EVENTS: topicSetting('events', 'card-approvals.events'),
  TOPIC_DEAD_LETTER: topicSetting('dead-letter', 'card-approvals.dead-letter'),
  TOPIC_PARTITIONS: setting({ kind: 'integer from 1 to 1000', doc: 'Partitions of the topics the worker creates.', schema: int(1, 1000), default: '3' }),
  TOPIC_REPLICATION_FACTOR: setting({ kind: 'integer from 1 to 10', doc: 'Replication factor of the topics the worker creates.', schema: int(1, 10), default: '1', requiredInProduction: true }),
  TOPIC_RETENTION_REQUESTS: retention('request topics', '7d'),
  TOPIC_RETENTION_DECISIONS: retention('decisions topic', '7d'),
  TOPIC_RETENTION_EVENTS: retention('events topic', '30d'),
  TOPIC_RETENTION_DEAD_LETTER: retention('dead-letter topic (the window to replay a dead letter in)', '90d'),
  EVENT_PERSONAL_DATA: setting({ kind: 'full or ids', doc: 'What the events on the events topic carry of people. `full`: each person\'s id, name, email and language, and the text people wrote, as stored. `ids`: each person\'s id (and language) only, their name and email the empty string; the request\'s description and the reasons of a decision and of its cards null; and the event\'s message naming people by id. Systems that need a person\'s details ask the identity system. The outbox and the history keep everything either way (the emails and the page need it).', schema: oneOf(['full', 'ids']), default: 'full' }),
  SCHEMA_REGISTRY_URL: setting({ kind: 'URL (http:, https:)', doc: 'The Confluent-compatible schema registry API.', schema: url(['http:', 'https:']), default: 'http://127.0.0.1:8081/apis/ccompat/v7', requiredInProduction: true }),
  SCHEMA_REGISTRY_REGISTER: setting({ kind: 'true or false', doc: 'Register the events schema and set each subject\'s compatibility at start-up (needs registry write rights). With false the worker only reads the registry: it finds its events schema by subject and checks that the request and decision subjects hold schemas it reads, and refuses to start otherwise, naming the subject.', schema: flag(), default: 'true' }),
  DATABASE_URL: setting({ kind: 'URL (postgres:, postgresql:)', doc: 'The Postgres database.', schema: url(['postgres:', 'postgresql:'], { credentials: true }), default: 'postgres://postgres@127.0.0.1:5432/card_approvals', requiredInProduction: true, secret: true }),
  DATABASE_LOCK_TIMEOUT_MS: setting({ kind: 'integer from 100 to 600000', doc: 'How long a statement waits for a lock; past it the statement fails and its partition retries later, so one blocked request does not hold up the others.', schema: int(100, 600_000), default: '5000' }),
  DATABASE_PREPARED_STATEMENTS: setting({ kind: 'true or false', doc: 'Run the hot statements (a batch\'s write, the read of timers and erasures) as named prepared statements, parsed and planned once per connection. Set false behind a connection pooler in transaction mode older than PgBouncer 1.21, which cannot keep a connection\'s prepared statements: the same statements then go unnamed, planned on every call. A batch\'s locks and read are one function call either way, whose plans Postgres keeps per connection.', schema: flag(), default: 'true' }),
  MIGRATE: setting({ kind: 'true or false', doc: 'Apply pending migrations at start-up (needs DDL rights). With false the worker checks that the schema is current and refuses to start otherwise, naming the missing migration; run `node dist/entry-points/cli/migrate.js` as the migrator first.', schema: flag(), default: 'true' }),
  SMTP_URL: setting({ kind: 'URL (smtp:, smtps:)', doc: 'The SMTP server, with credentials if it needs them.', schema: url(['smtp:', 'smtps:'], { credentials: true }), default: 'smtp://127.0.0.1:1025', requiredInProduction: true, secret: true }),
  SMTP_FROM: setting({ kind: 'one line', doc: 'The From of every email.', schema: z.string().refine((v) => !/[\r\n]/.test(v), { error: 'must be a single line' }), default: 'Card approvals <card-approvals@example.com>', requiredInProduction: true }),
  EMAIL_REPLY_TO: optional({ kind: 'email address', doc: 'The Reply-To of every email: where a reply to an automatic email goes (a service desk, say). Unset: the emails have no Reply-To, and a reply goes to SMTP_FROM. Every email says it was sent automatically either way (`Auto-Submitted: auto-generated`, `X-Auto-Response-Suppress: All`), so that auto-responders that honour them (out-of-office replies) do not answer.', schema: z.string().refine(isEmailAddress, { error: 'is not an email address (name@example.com)' }) }),
  EMAIL_MESSAGE_ID_DOMAIN: setting({ kind: 'domain', doc: 'The domain of the emails\' Message-IDs (derived per event and recipient, so a resend is recognisably the same email).', schema: text(), default: 'card-approvals.local' }),
  SMTP_MAX_CONNECTIONS: setting({ kind: 'integer from 1 to 100', doc: 'Pooled SMTP connections (emails sent at once).', schema: int(1, 100), default: '5' }),
  SMTP_SEND_TIMEOUT_MS: setting({ kind: 'integer from 500 to 600000', doc: 'The longest one SMTP send may take: a send starts only with this much lease left, and one that takes longer fails (retried later) and its connections are replaced.', schema: int(500, 600_000), default: '20000' }),
  HTTP_HOST: setting({ kind: 'host or address', doc: 'Where health, metrics, the API and the page listen.', schema: text(), default: '127.0.0.1' }),
  HTTP_PORT: setting({ kind: 'integer from 0 to 65535', doc: 'Their port (0: any free one).', schema: int(0, 65535), default: '8080' }),
  METRICS_PORT: optional({ kind: 'integer from 0 to 65535', doc: 'A port of their own, on HTTP_HOST, for `/metrics` and the health probes (`/health/live`, `/health/ready`, `/health/consumer`), which HTTP_PORT then no longer serves: the route to the API need not expose them (0: any free one). Unset: HTTP_PORT serves them.', schema: int(0, 65535) }),
  OPERATOR_URL: setting({ kind: 'URL (http:, https:)', doc: 'The approvers\' page as approvers reach it: emails link to `<OPERATOR_URL>/<requestId>`.', schema: url(['http:', 'https:']), default: 'http://127.0.0.1:8080/approvals', requiredInProduction: true }),
  CARD_APPROVALS_API_URL: setting({ kind: 'URL (http:, https:)', doc: 'The worker\'s API, which every `card-approvals` command on records calls (requests, decide, reassign, events, timers).', schema: url(['http:', 'https:']), default: 'http://127.0.0.1:8080' }),
  CARD_APPROVALS_TOKEN: optional({ kind: 'JWT', doc: 'The bearer token those commands send: an operator\'s, or for `decide` the deciding person\'s.', schema: text(), secret: true }),
  EMAIL_LOCALE: setting({ kind: 'language tag', doc: 'The emails\' language when neither the recipient (`Person.locale`) nor the operation has one. Shipped: en, sv, de; a tag such as sv-SE falls back to sv, an unshipped one to the next in line.', schema: locale, default: 'en' }),
  EMAIL_LOCALES: optional({ kind: 'JSON: { "LOCK_CARD": "sv" }', doc: 'A language per operation, before EMAIL_LOCALE.', schema: json(byOperation(locale)), file: true }),
  EMAIL_TIME_ZONE: setting({ kind: 'IANA time zone', doc: 'The time zone of every time in an email (Europe/Stockholm), written the way the email\'s language writes times.', schema: timeZone, default: 'UTC' }),
  EMAIL_LINK_SECRET: optional({ kind: 'keys of at least 32 characters, separated by commas or line breaks', doc: 'One-click Approve / Postpone / Reject links in approver emails: the first key signs, every key verifies (put a new key first to rotate; drop the old one after EMAIL_LINK_TTL). Unset: no links.', schema: text(), secret: true }),
  EMAIL_LINK_TTL: setting({ kind: 'duration from 5m to 30d', doc: 'How long a one-click link works after its email was sent.', schema: duration(5 * 60_000, 30 * 86_400_000), default: '7d' }),
  IDEMPOTENCY_KEY_TTL: setting({ kind: 'duration from 1m to 30d', doc: 'How long the API keeps an Idempotency-Key and the answer it gave: a retry within it gets that answer again and does nothing more. The worker removes expired keys itself.', schema: duration(60_000, 30 * 86_400_000), default: '24h' }),
  OUTBOX_RETENTION: setting({ kind: 'duration from 1s to 3650d', doc: 'How long a published event and a sent email stay in their outboxes (the request\'s history keeps what it needs of the event). Parked ones stay until resolved.', schema: duration(1000, 3650 * 86_400_000), default: '7d' }),
  CLOSED_APPROVAL_RETENTION: setting({ kind: 'duration from 1s to 3650d', doc: 'How long a closed approval stays after it closed, with its history, decisions, card keys and link uses; then it is removed. Pending approvals are never removed. Keep it longer than the request topics\' retention, or a request read again after its record was removed opens a new approval.', schema: duration(1000, 3650 * 86_400_000), default: '400d' }),
  DELEGATION_RETENTION: setting({ kind: 'duration from 1s to 3650d', doc: 'How long a delegation stays after it ended or was revoked.', schema: duration(1000, 3650 * 86_400_000), default: '400d' }),
  RETENTION_INTERVAL: setting({ kind: 'duration from 1s to 7d', doc: 'How often retention runs: one worker at a time removes what is past its time, 500 rows a statement.', schema: duration(1000, 7 * 86_400_000), default: '1h' }),
  MAX_CARDS_PER_REQUEST: setting({ kind: `integer from 1 to ${MAX_CARDS_EVER}`, doc: 'Cards one request of several cards (REQUEST_MULTIPLE_CARDS) may carry.', schema: int(1, MAX_CARDS_EVER), default: '100' }),
  UNKNOWN_REQUEST_WINDOW_MS: setting({ kind: 'integer from 1000 to 2592000000', doc: 'How long a decision waits for its request before it is refused UNKNOWN_REQUEST.', schema: int(1000, 30 * 24 * 3600_000), default: String(15 * 60_000) }),
  OUTBOX_LEASE_MS: setting({ kind: 'integer from 1000 to 3600000', doc: 'How long a relay\'s claim on events and emails lasts: a crashed worker\'s unsent ones are taken over after it. A relay renews it while it still works on them; at least SMTP_SEND_TIMEOUT_MS + 2000.', schema: int(1000, 3600_000), default: '30000' }),
  EVENTS_MAX_BATCH_BYTES: optional({ kind: 'integer from 1024 to 100000000', doc: 'The largest send to the events topic. Default: the topic\'s max.message.bytes, read at start-up.', schema: int(1024, 100_000_000) }),
  PARTITION_STALLED_AFTER_MS: setting({ kind: 'integer from 1000 to 3600000', doc: 'A partition with work waiting this long and no batch completing makes the worker not ready.', schema: int(1000, 3600_000), default: '60000' }),
  STARTUP_WAIT: setting({ kind: 'duration from 1s to 1h', doc: 'How long start-up waits for each dependency (the database, the schema registry, the broker) to answer, saying every 10 s what it waits for, before it exits naming the setting to check. A refusal (credentials, a wrong path) ends start-up at once.', schema: duration(1000, 3600_000), default: '2m' }),
  LOG_LEVEL: setting({ kind: 'fatal, error, warn, info, debug, trace, silent', doc: 'The log level.', schema: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), default: 'info' }),
  ACCESS_LOG: setting({ kind: 'stderr, stdout or a file path', doc: 'Where the access log goes: one JSON line, marked "log":"access", for every answer of the API, the one-click email links and sign-in. By default stderr, apart from the worker\'s log on stdout; a file is appended to (its directory is created) and must open at start-up.', schema: z.string().refine((v) => !/[\r\n]/.test(v), { error: 'must be a single line' }), default: 'stderr' }),
  ACCESS_LOG_HASH_KEY: optional({ kind: 'text, at least 32 characters', doc: 'The key of the access log\'s search-term hashes: a search term is logged as its length and HMAC-SHA256 under this key, never as typed. Required in production unless API_ENABLED=false; development uses a fixed key that is no secret. A new key changes every hash from then on.', schema: z.string().min(32, { error: 'must be at least 32 characters' }), secret: true }),
};

/** The access log's hash key where none is set, in development only: no secret, so hashes made with it protect nothing. */
const DEVELOPMENT_ACCESS_LOG_KEY = 'development-only-access-log-key-no-secret';

/** Every setting, by subject: the configuration reference is made from these. */
export const SETTINGS_BY_SUBJECT: Array<{ subject: string; settings: Settings }> = [
  { subject: 'The worker', settings: WORKER_SETTINGS },
  { subject: 'Kafka security', settings: KAFKA_SECURITY_SETTINGS },
  { subject: 'The API and sign-in', settings: SIGN_IN_SETTINGS },
  { subject: 'Policies', settings: POLICY_SETTINGS },
];

/** NODE_ENV=production, however it is written (Production is production too). */
export function isProduction(env: NodeJS.ProcessEnv): boolean {
  return env.NODE_ENV?.trim().toLowerCase() === 'production';
}

/**
 * What production requires of whoever loads the configuration: the worker, every setting marked
 * required and a way to authenticate API callers; a command, only the settings it uses (so the
 * provisioning step needs no SMTP or database credentials).
 */
export type ProductionNeeds = 'worker' | readonly string[];

/** Settings production requires that a role never reads: the consumer sends no email, the relays reach neither broker nor registry. */
const UNREAD_BY_ROLE: Record<Role, ReadonlySet<string>> = {
  all: new Set(),
  consumer: new Set(['SMTP_URL', 'SMTP_FROM']),
  relays: new Set(['KAFKA_BROKERS', 'TOPIC_REPLICATION_FACTOR', 'SCHEMA_REGISTRY_URL']),
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env, needs: ProductionNeeds = 'worker'): Config {
  const problems: string[] = [];
  const production = isProduction(env);
  // ROLE first: what production requires of a worker depends on it (a ROLE that does not read is
  // named by the full read below).
  const role = readSettings({ ROLE: WORKER_SETTINGS.ROLE }, env, false, []).ROLE;
  const v = readSettings(WORKER_SETTINGS, env, (name) => production && (needs === 'worker' ? !UNREAD_BY_ROLE[role].has(name) : needs.includes(name)), problems);
  /** Whether this process serves the API (ROLE=relays serves probes and metrics only). */
  const servesApi = needs === 'worker' && role !== 'relays';
  const topic = (name: keyof typeof WORKER_SETTINGS & `TOPIC_${string}`, suffix: string): string => {
    const value = (v[name] as string | undefined) ?? `${v.TOPIC_PREFIX}${suffix}`;
    if (!topicName.safeParse(value).success) problems.push(`${name}="${value}" is not a valid Kafka topic name`);
    return value;
  };
  // Keys are separated by commas or line breaks (one per line in a file).
  const linkKeys = v.EMAIL_LINK_SECRET?.split(/[,\r\n]/).map((k) => k.trim()).filter(Boolean);
  if (v.EMAIL_LINK_SECRET !== undefined && !linkKeys?.length) problems.push('EMAIL_LINK_SECRET holds no key');
  if (linkKeys?.some((k) => k.length < 32)) problems.push('EMAIL_LINK_SECRET must hold keys of at least 32 characters each');
  if (v.METRICS_PORT !== undefined && v.METRICS_PORT !== 0 && v.METRICS_PORT === v.HTTP_PORT) {
    problems.push(`METRICS_PORT (${v.METRICS_PORT}) must differ from HTTP_PORT: leave it unset to serve metrics and health on HTTP_PORT`);
  }
  if (v.OUTBOX_LEASE_MS < v.SMTP_SEND_TIMEOUT_MS + 2000) {
    problems.push(`OUTBOX_LEASE_MS (${v.OUTBOX_LEASE_MS}) must be at least SMTP_SEND_TIMEOUT_MS (${v.SMTP_SEND_TIMEOUT_MS}) + 2000: a lease must cover one send and its mark`);
  }

  const config: Config = {
    production,
    role: v.ROLE,
    kafka: {
      brokers: v.KAFKA_BROKERS,
      clientId: v.KAFKA_CLIENT_ID ?? `card-approval-worker-${os.hostname()}`,
      groupId: v.KAFKA_GROUP_ID,
      partitions: v.TOPIC_PARTITIONS,
      replicationFactor: v.TOPIC_REPLICATION_FACTOR,
      retentionMs: { requests: v.TOPIC_RETENTION_REQUESTS, decisions: v.TOPIC_RETENTION_DECISIONS, events: v.TOPIC_RETENTION_EVENTS, deadLetter: v.TOPIC_RETENTION_DEAD_LETTER },
      createTopics: v.KAFKA_CREATE_TOPICS,
      sessionTimeoutMs: v.KAFKA_SESSION_TIMEOUT_MS,
      partitionsConcurrently: v.KAFKA_PARTITIONS_CONCURRENTLY,
      ...readKafkaSecurity(env, problems),
    },
    topics: {
      requests: Object.fromEntries(OPERATIONS.map((op) => [op, topic(`TOPIC_${op}`, `card-operations.${OPERATION_FACTS[op].topic}`)])) as Record<Operation, string>,
      decisions: topic('TOPIC_DECISIONS', 'card-approvals.decisions'),
      events: topic('TOPIC_EVENTS', 'card-approvals.events'),
      deadLetter: topic('TOPIC_DEAD_LETTER', 'card-approvals.dead-letter'),
    },
    eventPersonalData: v.EVENT_PERSONAL_DATA,
    schemaRegistryUrl: v.SCHEMA_REGISTRY_URL,
    registerSchemas: v.SCHEMA_REGISTRY_REGISTER,
    databaseUrl: v.DATABASE_URL,
    migrate: v.MIGRATE,
    smtp: { url: v.SMTP_URL, from: v.SMTP_FROM, replyTo: v.EMAIL_REPLY_TO, messageIdDomain: v.EMAIL_MESSAGE_ID_DOMAIN, maxConnections: v.SMTP_MAX_CONNECTIONS, sendTimeoutMs: v.SMTP_SEND_TIMEOUT_MS },
    http: { host: v.HTTP_HOST, port: v.HTTP_PORT, metricsPort: v.METRICS_PORT },
    cli: { apiUrl: v.CARD_APPROVALS_API_URL, token: v.CARD_APPROVALS_TOKEN },
    auth: readSignIn(env, problems, { production, serving: servesApi }, { operatorUrl: v.OPERATOR_URL, httpHost: v.HTTP_HOST }),
    operatorUrl: v.OPERATOR_URL,
    emailLanguage: { defaultLocale: v.EMAIL_LOCALE, operationLocales: v.EMAIL_LOCALES ?? {}, timeZone: v.EMAIL_TIME_ZONE },
    emailLinks: linkKeys?.length ? { secrets: linkKeys, ttlMs: v.EMAIL_LINK_TTL } : undefined,
    idempotencyKeyTtlMs: v.IDEMPOTENCY_KEY_TTL,
    retention: { outboxMs: v.OUTBOX_RETENTION, closedApprovalMs: v.CLOSED_APPROVAL_RETENTION, delegationMs: v.DELEGATION_RETENTION, intervalMs: v.RETENTION_INTERVAL },
    ...readPolicies(env, problems),
    maxCardsPerRequest: v.MAX_CARDS_PER_REQUEST,
    unknownRequestWindowMs: v.UNKNOWN_REQUEST_WINDOW_MS,
    // The email relay starts a send only with one whole SMTP_SEND_TIMEOUT_MS of lease left.
    outboxLeaseMs: v.OUTBOX_LEASE_MS,
    eventsMaxBatchBytes: v.EVENTS_MAX_BATCH_BYTES,
    databaseLockTimeoutMs: v.DATABASE_LOCK_TIMEOUT_MS,
    databasePreparedStatements: v.DATABASE_PREPARED_STATEMENTS,
    partitionStalledAfterMs: v.PARTITION_STALLED_AFTER_MS,
    startupWaitMs: v.STARTUP_WAIT,
    logLevel: v.LOG_LEVEL,
    accessLog: { destination: v.ACCESS_LOG, hashKey: v.ACCESS_LOG_HASH_KEY ?? DEVELOPMENT_ACCESS_LOG_KEY },
  };
  // Only the API logs search terms: without it, nothing is hashed.
  if (production && servesApi && config.auth.apiEnabled && v.ACCESS_LOG_HASH_KEY === undefined && !problems.some((p) => p.startsWith('ACCESS_LOG_HASH_KEY'))) {
    problems.push("ACCESS_LOG_HASH_KEY must be set in production (NODE_ENV=production): the key of the access log's search-term hashes (or set API_ENABLED=false)");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The database a command that needs only the database uses (the migration command): the same declaration, nothing else asked for. */
export function loadDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  const problems: string[] = [];
  const { DATABASE_URL } = readSettings({ DATABASE_URL: WORKER_SETTINGS.DATABASE_URL }, env, isProduction(env), problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return DATABASE_URL;
}

export function allTopics(topics: TopicNames): string[] {
  return [...Object.values(topics.requests), topics.decisions, topics.events, topics.deadLetter];
}

/** Every topic with the retention it is created with. */
export function topicSpecs({ topics, kafka }: Pick<Config, 'topics' | 'kafka'>): Array<{ topic: string; retentionMs: number }> {
  const { retentionMs } = kafka;
  return [
    ...Object.values(topics.requests).map((topic) => ({ topic, retentionMs: retentionMs.requests })),
    { topic: topics.decisions, retentionMs: retentionMs.decisions },
    { topic: topics.events, retentionMs: retentionMs.events },
    { topic: topics.deadLetter, retentionMs: retentionMs.deadLetter },
  ];
}

/** The configuration reference (docs/configuration.md), made from the declarations. */
export function configurationReference(): string {
  const sections = SETTINGS_BY_SUBJECT.map(({ subject, settings }) => `## ${subject}\n\n${referenceTable(settings)}`);
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from src/libraries/config by `npm run docs`; a test fails when it is stale. Do not edit by hand. -->',
    '',
    'Every setting is an environment variable, validated once at start-up: each problem stops the',
    'worker with one line naming the variable (never a secret\'s value). A `_FILE` form reads the value',
    'from that file instead (for secrets, without its final line break); set one or the other.',
    '',
    'With `NODE_ENV=production` (the image sets it), every setting marked **required** must be given:',
    'the defaults shown serve development only (a local broker, database, registry and SMTP inbox).',
    'Production also refuses `AUTH_LOCAL_SIGNIN`, and needs `AUTH_JWKS_URL` (or `AUTH_SECRET`) and',
    '`ACCESS_LOG_HASH_KEY` unless `API_ENABLED=false`. In every mode, `AUTH_JWKS_URL` must use https off',
    'a loopback host and cannot be set beside `AUTH_SECRET`.',
    '',
    ...sections.flatMap((s) => [s, '']),
  ].join('\n');
}
