// The one place that reads the environment. Everything is validated once at start-up; a bad
// value stops the process with one line per bad variable, naming the variable.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { OPERATIONS, type Operation, type Person } from '../domain/card-operation';

export interface TopicNames {
  requests: Record<Operation, string>;
  decisions: string;
  events: string;
  deadLetter: string;
}

export interface Config {
  kafka: { brokers: string[]; clientId: string; groupId: string; partitions: number; replicationFactor: number; sessionTimeoutMs: number; partitionsConcurrently: number };
  topics: TopicNames;
  schemaRegistryUrl: string;
  databaseUrl: string;
  smtp: { url: string; from: string; messageIdDomain: string; maxConnections: number };
  inboxUrl: string;
  http: { host: string; port: number };
  auth: { secret: string | undefined; jwksUrl: string | undefined; issuer: string; audience: string; localSignIn: boolean };
  operatorUrl: string;
  approverGroups: Partial<Record<Operation, Person[]>>;
  maxCardsPerRequest: number;
  unknownRequestWindowMs: number;
  /** How long a relay's claim on outbox rows lasts; a crashed worker's rows wait this long. */
  outboxLeaseMs: number;
  /** How long a statement waits for a lock before it fails (and its partition retries later). */
  databaseLockTimeoutMs: number;
  /** A partition with work waiting this long and no batch completing makes the worker not ready. */
  partitionStalledAfterMs: number;
  logLevel: string;
  stackHome: string;
  javaHome: string | undefined;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const OPERATION_TOPIC_SUFFIX: Record<Operation, string> = {
  REQUEST_CARD: 'request-card',
  DEACTIVATE_CARD: 'deactivate-card',
  REACTIVATE_CARD: 'reactivate-card',
  LOCK_CARD: 'lock-card',
  REQUEST_MULTIPLE_CARDS: 'request-multiple-cards',
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const str = (name: string, fallback: string): string => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? fallback : value;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}="${raw}" must be an integer between ${min} and ${max}`);
      return fallback;
    }
    return value;
  };
  const url = (name: string, fallback: string, protocols: string[]): string => {
    const value = str(name, fallback);
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) problems.push(`${name}="${value}" must use ${protocols.join(' or ')}`);
    } catch {
      problems.push(`${name}="${value}" is not a URL`);
    }
    return value;
  };

  const brokers = str('KAFKA_BROKERS', '127.0.0.1:9092')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  for (const broker of brokers) {
    if (!/^[^\s:]+:\d{1,5}$/.test(broker)) problems.push(`KAFKA_BROKERS entry "${broker}" must be host:port`);
  }

  const prefix = str('TOPIC_PREFIX', '');
  const topic = (name: string, fallback: string): string => {
    const value = str(name, prefix + fallback);
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(value)) problems.push(`${name}="${value}" is not a valid Kafka topic name`);
    return value;
  };
  const requests = Object.fromEntries(
    OPERATIONS.map((op) => [op, topic(`TOPIC_${op}`, `card-operations.${OPERATION_TOPIC_SUFFIX[op]}`)]),
  ) as Record<Operation, string>;

  const from = str('SMTP_FROM', 'Card approvals <card-approvals@example.com>');
  if (/[\r\n]/.test(from)) problems.push('SMTP_FROM must be a single line');

  const config: Config = {
    kafka: {
      brokers,
      clientId: str('KAFKA_CLIENT_ID', `card-approval-worker-${os.hostname()}`),
      groupId: str('KAFKA_GROUP_ID', 'card-approval-worker'),
      partitions: int('TOPIC_PARTITIONS', 3, 1, 1000),
      replicationFactor: int('TOPIC_REPLICATION_FACTOR', 1, 1, 10),
      sessionTimeoutMs: int('KAFKA_SESSION_TIMEOUT_MS', 30_000, 6000, 300_000),
      partitionsConcurrently: int('KAFKA_PARTITIONS_CONCURRENTLY', 10, 1, 100),
    },
    topics: {
      requests,
      decisions: topic('TOPIC_DECISIONS', 'card-approvals.decisions'),
      events: topic('TOPIC_EVENTS', 'card-approvals.events'),
      deadLetter: topic('TOPIC_DEAD_LETTER', 'card-approvals.dead-letter'),
    },
    schemaRegistryUrl: url('SCHEMA_REGISTRY_URL', 'http://127.0.0.1:8081/apis/ccompat/v7', ['http:', 'https:']),
    databaseUrl: url('DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/card_approvals', ['postgres:', 'postgresql:']),
    smtp: {
      url: url('SMTP_URL', 'smtp://127.0.0.1:1025', ['smtp:', 'smtps:']),
      from,
      messageIdDomain: str('EMAIL_MESSAGE_ID_DOMAIN', 'card-approvals.local'),
      maxConnections: int('SMTP_MAX_CONNECTIONS', 5, 1, 100),
    },
    http: { host: str('HTTP_HOST', '127.0.0.1'), port: int('HTTP_PORT', 8080, 0, 65535) },
    auth: {
      secret: env.AUTH_SECRET?.trim() || undefined,
      jwksUrl: env.AUTH_JWKS_URL?.trim() ? url('AUTH_JWKS_URL', '', ['https:', 'http:']) : undefined,
      issuer: str('AUTH_ISSUER', 'card-approval-worker'),
      audience: str('AUTH_AUDIENCE', 'card-approvals'),
      // Local development only: the web page may mint a token for any identity it is given.
      localSignIn: str('AUTH_LOCAL_SIGNIN', 'false') === 'true',
    },
    inboxUrl: url('SMTP_INBOX_URL', 'http://127.0.0.1:1080', ['http:', 'https:']),
    operatorUrl: url('OPERATOR_URL', 'http://127.0.0.1:8080/approvals', ['http:', 'https:']),
    approverGroups: parseApproverGroups(env, problems),
    maxCardsPerRequest: int('MAX_CARDS_PER_REQUEST', 100, 1, 10_000),
    unknownRequestWindowMs: int('UNKNOWN_REQUEST_WINDOW_MS', 15 * 60_000, 1000, 30 * 24 * 3600_000),
    // It must outlive one SMTP send (connect 5 s + socket 15 s), or a slow send may be repeated.
    outboxLeaseMs: int('OUTBOX_LEASE_MS', 30_000, 1000, 3600_000),
    databaseLockTimeoutMs: int('DATABASE_LOCK_TIMEOUT_MS', 5000, 100, 600_000),
    partitionStalledAfterMs: int('PARTITION_STALLED_AFTER_MS', 60_000, 1000, 3600_000),
    logLevel: str('LOG_LEVEL', 'info'),
    stackHome: str('STACK_HOME', path.join(os.homedir(), '.cache', 'card-approval-worker', 'stack')),
    javaHome: env.JAVA_HOME?.trim() || undefined,
  };
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(config.logLevel)) {
    problems.push(`LOG_LEVEL="${config.logLevel}" must be one of fatal, error, warn, info, debug, trace, silent`);
  }
  if (config.auth.localSignIn && !config.auth.secret) problems.push('AUTH_LOCAL_SIGNIN=true needs AUTH_SECRET');
  // Local sign-in mints a token for any identity it is given: only for a developer's own machine.
  if (config.auth.localSignIn && !['127.0.0.1', '::1', 'localhost'].includes(config.http.host)) {
    problems.push(`AUTH_LOCAL_SIGNIN=true needs HTTP_HOST on loopback (127.0.0.1, ::1 or localhost), not "${config.http.host}"`);
  }
  if (config.auth.localSignIn && config.auth.jwksUrl) problems.push('AUTH_LOCAL_SIGNIN=true cannot be used with AUTH_JWKS_URL (its tokens would be refused)');
  if (config.auth.secret !== undefined && config.auth.secret.length < 32) problems.push('AUTH_SECRET must be at least 32 characters');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * Approvers used when a request names none: APPROVER_GROUPS (JSON) or APPROVER_GROUPS_FILE
 * (path to the same JSON), shaped { "LOCK_CARD": [{ "id", "name", "email" }], ... }.
 */
function parseApproverGroups(env: NodeJS.ProcessEnv, problems: string[]): Partial<Record<Operation, Person[]>> {
  let raw = env.APPROVER_GROUPS?.trim();
  let source = 'APPROVER_GROUPS';
  const file = env.APPROVER_GROUPS_FILE?.trim();
  if (!raw && file) {
    source = 'APPROVER_GROUPS_FILE';
    try {
      raw = fs.readFileSync(file, 'utf8');
    } catch {
      problems.push(`APPROVER_GROUPS_FILE="${file}" cannot be read`);
      return {};
    }
  }
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    problems.push(`${source} is not valid JSON`);
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problems.push(`${source} must be a JSON object keyed by operation`);
    return {};
  }
  const groups: Partial<Record<Operation, Person[]>> = {};
  for (const [key, members] of Object.entries(parsed)) {
    if (!(OPERATIONS as readonly string[]).includes(key)) {
      problems.push(`${source} has unknown operation "${key}"`);
      continue;
    }
    const valid =
      Array.isArray(members) &&
      members.every(
        (m: unknown) =>
          typeof m === 'object' &&
          m !== null &&
          typeof (m as Person).id === 'string' &&
          typeof (m as Person).name === 'string' &&
          typeof (m as Person).email === 'string',
      );
    if (!valid) {
      problems.push(`${source}.${key} must be an array of { id, name, email }`);
      continue;
    }
    groups[key as Operation] = (members as Person[]).map((m) => ({ id: m.id, name: m.name, email: m.email, locale: m.locale ?? null }));
  }
  return groups;
}

export function allTopics(topics: TopicNames): string[] {
  return [...Object.values(topics.requests), topics.decisions, topics.events, topics.deadLetter];
}
