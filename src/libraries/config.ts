// The one place that reads the environment. Everything is validated once at start-up; a bad
// value stops the process with one line per bad variable, naming the variable.
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { CARD_CONFLICT_POLICIES, DEFAULT_CARD_CONFLICT_POLICY, type CardConflictPolicy } from '../domain/card-conflicts';
import { DEFAULT_APPROVAL_POLICY, samePerson, type ApprovalPolicy, type StagePolicy } from '../domain/approval-policy';
import { DEFAULT_TIMER_POLICY, type TimerPolicies, type TimerPolicy } from '../domain/approval-timers';
import { OPERATIONS, type Operation, type Person, type VoteRule } from '../domain/card-operation';
import { MAX_CARDS_EVER, nameProblem, personProblems, ruleProblems } from '../domain/validate-message';

export interface TopicNames {
  requests: Record<Operation, string>;
  decisions: string;
  events: string;
  deadLetter: string;
}

export interface Config {
  kafka: { brokers: string[]; clientId: string; groupId: string; partitions: number; replicationFactor: number; sessionTimeoutMs: number; partitionsConcurrently: number; ssl: KafkaTls | undefined; sasl: KafkaSasl | undefined };
  topics: TopicNames;
  schemaRegistryUrl: string;
  databaseUrl: string;
  smtp: { url: string; from: string; messageIdDomain: string; maxConnections: number; sendTimeoutMs: number };
  inboxUrl: string;
  http: { host: string; port: number };
  /** The operators' CLI: the worker's API it decides through, and the bearer token it sends (CARD_APPROVALS_TOKEN). */
  cli: { apiUrl: string; token: string | undefined };
  auth: { secret: string | undefined; jwksUrl: string | undefined; issuer: string; audience: string; localSignIn: boolean; oidc: OidcSignInSettings | undefined };
  operatorUrl: string;
  /** The emails' language when the recipient has none (per operation, then the worker's), and their time zone. */
  emailLanguage: { defaultLocale: string; operationLocales: Partial<Record<Operation, string>>; timeZone: string };
  /** One-click decision links in approver emails (EMAIL_LINK_SECRET set), and how long they work. */
  emailLinks: { secret: string; ttlMs: number } | undefined;
  approverGroups: Partial<Record<Operation, Person[]>>;
  /** Per operation: whether approvers a request names are asked, or only the configured group. */
  approvalPolicies: Record<Operation, ApprovalPolicy>;
  /** What a new request does to a card that already has a pending approval, per operation. */
  cardConflictPolicy: Record<Operation, CardConflictPolicy>;
  /** When pending approvals are reminded, escalated and expired, per operation. */
  timerPolicies: TimerPolicies;
  maxCardsPerRequest: number;
  unknownRequestWindowMs: number;
  /** How long a relay's claim on outbox rows lasts; a crashed worker's rows wait this long. */
  outboxLeaseMs: number;
  /** The largest send to the events topic; unset: the topic's own max.message.bytes, read at start. */
  eventsMaxBatchBytes: number | undefined;
  /** How long a statement waits for a lock before it fails (and its partition retries later). */
  databaseLockTimeoutMs: number;
  /** A partition with work waiting this long and no batch completing makes the worker not ready. */
  partitionStalledAfterMs: number;
  logLevel: string;
  stackHome: string;
  javaHome: string | undefined;
}

/** TLS to the brokers. PEM contents, read at start-up; the system's CAs are trusted when `ca` is absent. */
export interface KafkaTls {
  ca: string | undefined;
  /** A client certificate (chain) and its key, for brokers that require one (ssl.client.auth=required). */
  cert: string | undefined;
  key: string | undefined;
  keyPassword: string | undefined;
}

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export interface KafkaSasl {
  mechanism: (typeof SASL_MECHANISMS)[number];
  username: string;
  password: string;
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
      ...parseKafkaSecurity(env, problems),
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
      sendTimeoutMs: int('SMTP_SEND_TIMEOUT_MS', 20_000, 500, 600_000),
    },
    http: { host: str('HTTP_HOST', '127.0.0.1'), port: int('HTTP_PORT', 8080, 0, 65535) },
    cli: { apiUrl: url('CARD_APPROVALS_API_URL', 'http://127.0.0.1:8080', ['http:', 'https:']), token: env.CARD_APPROVALS_TOKEN?.trim() || undefined },
    auth: {
      secret: env.AUTH_SECRET?.trim() || undefined,
      jwksUrl: env.AUTH_JWKS_URL?.trim() ? url('AUTH_JWKS_URL', '', ['https:', 'http:']) : undefined,
      // With OIDC sign-in, the tokens the API sees are the provider's: their iss is its issuer.
      issuer: str('AUTH_ISSUER', env.AUTH_OIDC_ISSUER?.trim() || 'card-approval-worker'),
      audience: str('AUTH_AUDIENCE', 'card-approvals'),
      // Local development only: the web page may mint a token for any identity it is given.
      localSignIn: str('AUTH_LOCAL_SIGNIN', 'false') === 'true',
      oidc: undefined, // parsed below, against the settings it must agree with
    },
    inboxUrl: url('SMTP_INBOX_URL', 'http://127.0.0.1:1080', ['http:', 'https:']),
    operatorUrl: url('OPERATOR_URL', 'http://127.0.0.1:8080/approvals', ['http:', 'https:']),
    emailLanguage: parseEmailLanguage(env, problems),
    emailLinks: parseEmailLinks(env, problems),
    approverGroups: parseApproverGroups(env, problems),
    approvalPolicies: parseApprovalPolicies(env, problems),
    cardConflictPolicy: parseCardConflictPolicy(env.CARD_CONFLICT_POLICY?.trim(), problems),
    timerPolicies: parseTimerPolicies(env, problems),
    maxCardsPerRequest: int('MAX_CARDS_PER_REQUEST', 100, 1, MAX_CARDS_EVER),
    unknownRequestWindowMs: int('UNKNOWN_REQUEST_WINDOW_MS', 15 * 60_000, 1000, 30 * 24 * 3600_000),
    // The email relay starts a send only with one whole SMTP_SEND_TIMEOUT_MS of lease left.
    outboxLeaseMs: int('OUTBOX_LEASE_MS', 30_000, 1000, 3600_000),
    eventsMaxBatchBytes: env.EVENTS_MAX_BATCH_BYTES?.trim() ? int('EVENTS_MAX_BATCH_BYTES', 1_000_000, 1024, 100_000_000) : undefined,
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
  if (config.outboxLeaseMs < config.smtp.sendTimeoutMs + 2000) {
    problems.push(`OUTBOX_LEASE_MS (${config.outboxLeaseMs}) must be at least SMTP_SEND_TIMEOUT_MS (${config.smtp.sendTimeoutMs}) + 2000: a lease must cover one send and its mark`);
  }
  config.auth.oidc = parseOidcSignIn(env, problems, config);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** A JSON object from NAME, or from the file NAME_FILE; undefined when neither is set or it is not valid. */
function readJsonObject(env: NodeJS.ProcessEnv, name: string, problems: string[]): { value: Record<string, unknown>; source: string } | undefined {
  let raw = env[name]?.trim();
  let source = name;
  const file = env[`${name}_FILE`]?.trim();
  if (!raw && file) {
    source = `${name}_FILE`;
    try {
      raw = fs.readFileSync(file, 'utf8');
    } catch {
      problems.push(`${name}_FILE="${file}" cannot be read`);
      return undefined;
    }
  }
  if (!raw) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    problems.push(`${source} is not valid JSON`);
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problems.push(`${source} must be a JSON object keyed by operation`);
    return undefined;
  }
  return { value: parsed as Record<string, unknown>, source };
}

/**
 * A list of people ({ id, name, email, locale? }) held to the rules a message's people meet, each
 * id once; or undefined, with the problems noted.
 */
function parsePeople(members: unknown, label: string, problems: string[]): Person[] | undefined {
  const shaped =
    Array.isArray(members) &&
    members.every(
      (m: unknown) =>
        typeof m === 'object' &&
        m !== null &&
        typeof (m as Person).id === 'string' &&
        typeof (m as Person).name === 'string' &&
        typeof (m as Person).email === 'string' &&
        ((m as Person).locale === undefined || (m as Person).locale === null || typeof (m as Person).locale === 'string'),
    );
  if (!shaped) {
    problems.push(`${label} must be an array of { id, name, email, locale? }`);
    return undefined;
  }
  const people = (members as Person[]).map((m) => ({ id: m.id, name: m.name, email: m.email, locale: m.locale ?? null }));
  const found = people.flatMap((p, i) => personProblems(`${label}[${i}]`, p));
  // One person under two ids (or one id in two cases) is still one person.
  const repeated = people.find((p, i) => people.findIndex((q) => samePerson(p, q)) !== i);
  if (repeated) found.push(`${label} names ${JSON.stringify(repeated.id)} more than once`);
  problems.push(...found);
  return found.length === 0 ? people : undefined;
}

/**
 * Approvers used when a request names none: APPROVER_GROUPS (JSON) or APPROVER_GROUPS_FILE
 * (path to the same JSON), shaped { "LOCK_CARD": [{ "id", "name", "email" }], ... }.
 */
function parseApproverGroups(env: NodeJS.ProcessEnv, problems: string[]): Partial<Record<Operation, Person[]>> {
  const json = readJsonObject(env, 'APPROVER_GROUPS', problems);
  const groups: Partial<Record<Operation, Person[]>> = {};
  for (const [key, members] of Object.entries(json?.value ?? {})) {
    if (!(OPERATIONS as readonly string[]).includes(key)) {
      problems.push(`${json!.source} has unknown operation "${key}"`);
      continue;
    }
    const people = parsePeople(members, `${json!.source}.${key}`, problems);
    if (people) groups[key as Operation] = people;
  }
  return groups;
}

/**
 * A policy per operation from NAME (JSON) or NAME_FILE, shaped { "default": {...}, "LOCK_CARD": {...} }:
 * an operation's entry overrides "default", which overrides `builtIn`. `apply` reads one entry's
 * settings over its base, noting problems under `where`.
 */
function parsePerOperation<P>(
  env: NodeJS.ProcessEnv,
  name: string,
  problems: string[],
  builtIn: P,
  apply: (settings: Record<string, unknown>, base: P, where: string) => P,
): Record<Operation, P> {
  const json = readJsonObject(env, name, problems);
  const entries = json?.value ?? {};
  const source = json?.source ?? name;
  for (const key of Object.keys(entries)) {
    if (key !== 'default' && !(OPERATIONS as readonly string[]).includes(key)) problems.push(`${source} has unknown operation "${key}"`);
  }
  const parseEntry = (key: string, base: P): P => {
    const entry = entries[key];
    if (entry === undefined) return base;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${source}.${key} must be an object`);
      return base;
    }
    return apply(entry as Record<string, unknown>, base, `${source}.${key}`);
  };
  const fallback = parseEntry('default', builtIn);
  return Object.fromEntries(OPERATIONS.map((op) => [op, parseEntry(op, fallback)])) as Record<Operation, P>;
}

/** A rule as configured: "ANY", "ALL" or "QUORUM n". */
function parseRule(value: unknown, where: string, problems: string[]): VoteRule | undefined {
  const match = typeof value === 'string' ? /^(ANY|ALL|QUORUM\s+(\d{1,3}))$/.exec(value.trim()) : null;
  const rule: VoteRule | undefined = match ? (match[2] ? { mode: 'QUORUM', quorum: Number(match[2]) } : { mode: match[1] as 'ANY' | 'ALL', quorum: null }) : undefined;
  const found = rule ? ruleProblems(where, rule) : [`${where} must be "ANY", "ALL" or "QUORUM n"`];
  problems.push(...found);
  return found.length === 0 ? rule : undefined;
}

const STAGE_SETTINGS = ['name', 'rule', 'approvers'];

/** SEQUENTIAL stages: [{ "name", "rule", "approvers": "request" | [people] }], asked in order. */
function parseStages(value: unknown, where: string, problems: string[]): StagePolicy[] | undefined {
  if (!Array.isArray(value) || value.length < 1 || value.length > 10) {
    problems.push(`${where} must be an array of 1 to 10 stages { name, rule, approvers }`);
    return undefined;
  }
  const stages = value.map((stage: unknown, i): StagePolicy | undefined => {
    const at = `${where}[${i}]`;
    if (typeof stage !== 'object' || stage === null || Array.isArray(stage)) return void problems.push(`${at} must be an object { name, rule, approvers }`);
    const { name, rule, approvers } = stage as Record<string, unknown>;
    for (const key of Object.keys(stage)) if (!STAGE_SETTINGS.includes(key)) problems.push(`${at}.${key} is not a setting (${STAGE_SETTINGS.join(', ')})`);
    const badName = typeof name === 'string' ? nameProblem(`${at}.name`, name) : `${at}.name must be a name`;
    if (badName) problems.push(badName);
    const parsedRule = parseRule(rule ?? 'ANY', `${at}.rule`, problems);
    const people = approvers === undefined || approvers === 'request' ? 'request' : parsePeople(approvers, `${at}.approvers`, problems);
    if (parsedRule?.mode === 'QUORUM' && Array.isArray(people) && people.length < parsedRule.quorum!) {
      problems.push(`${at} needs ${parsedRule.quorum} approvals but names ${people.length} approver(s)`);
    }
    return typeof name === 'string' && !badName && parsedRule && people ? { name: name.trim(), rule: parsedRule, approvers: people } : undefined;
  });
  if (!stages.every((s) => s !== undefined)) return undefined;
  // A person approves in one stage only: the request's approvers in two stages, or one person named
  // in two, would leave the later stage waiting for someone who has already voted.
  if (stages.filter((s) => s.approvers === 'request').length > 1) problems.push(`${where} takes the request's approvers in more than one stage; a person approves in one stage only`);
  const named = stages.flatMap((s, i) => (s.approvers === 'request' ? [] : s.approvers.map((p) => ({ p, i }))));
  const twice = named.find(({ p, i }) => named.some((o) => o.i !== i && samePerson(o.p, p)));
  if (twice) problems.push(`${where} names ${JSON.stringify(twice.p.id)} in more than one stage; a person approves in one stage only`);
  return stages as StagePolicy[];
}

const POLICY_SETTINGS = ['fromRequest', 'rule', 'stages', 'requestRule'];

/**
 * Who approves, per operation (APPROVAL_POLICY or APPROVAL_POLICY_FILE):
 * { "LOCK_CARD": { "fromRequest": "deny", "rule": "ALL" },
 *   "REQUEST_CARD": { "stages": [{ "name": "line manager", "rule": "ANY" }, { "name": "security", "rule": "QUORUM 2", "approvers": [...] }] } }.
 * `rule` is one stage of the request's approvers; `stages` replaces it; `requestRule` allows or denies a request's own rule.
 */
function parseApprovalPolicies(env: NodeJS.ProcessEnv, problems: string[]): Record<Operation, ApprovalPolicy> {
  return parsePerOperation(env, 'APPROVAL_POLICY', problems, DEFAULT_APPROVAL_POLICY, (settings, base, where) => {
    const policy = { ...base };
    if ('rule' in settings && 'stages' in settings) problems.push(`${where} sets rule or stages, not both`);
    for (const [field, value] of Object.entries(settings)) {
      if (!POLICY_SETTINGS.includes(field)) problems.push(`${where}.${field} is not a setting (${POLICY_SETTINGS.join(', ')})`);
      else if (field === 'fromRequest' || field === 'requestRule') {
        if (value !== 'allow' && value !== 'deny') problems.push(`${where}.${field} must be "allow" or "deny"`);
        else policy[field] = value;
      } else if (field === 'rule') {
        const rule = parseRule(value, `${where}.rule`, problems);
        if (rule) policy.stages = [{ name: 'approval', rule, approvers: 'request' }];
      } else {
        const stages = parseStages(value, `${where}.stages`, problems);
        if (stages) policy.stages = stages;
      }
    }
    return policy;
  });
}

const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;
const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 } as const;
/** Timers run from a second (their poll) to a year. */
const TIMER_MS = { min: 1000, max: 366 * 86_400_000 };

/**
 * Due dates, reminders, escalation and expiry per operation: APPROVAL_TIMERS (JSON) or
 * APPROVAL_TIMERS_FILE, shaped { "default": {...}, "LOCK_CARD": {...} }. Each entry may set
 * remindAfter, remindIntervalMax, escalateAfter, expireAfter (durations such as "90s", "4h", "3d",
 * or null for never) and escalateTo (people); an operation's entry overrides "default", which
 * overrides the built-in policy.
 */
function parseTimerPolicies(env: NodeJS.ProcessEnv, problems: string[]): TimerPolicies {
  return parsePerOperation(env, 'APPROVAL_TIMERS', problems, DEFAULT_TIMER_POLICY, (settings, base, where) => {
    const policy = { ...base };
    let escalateToRefused = false;
    const durations = { remindAfter: 'remindAfterMs', remindIntervalMax: 'remindIntervalMaxMs', escalateAfter: 'escalateAfterMs', expireAfter: 'expireAfterMs' } as const;
    for (const [field, value] of Object.entries(settings)) {
      const label = `${where}.${field}`;
      if (field === 'escalateTo') {
        const people = parsePeople(value, label, problems);
        escalateToRefused = people === undefined;
        policy.escalateTo = people ?? [];
        continue;
      }
      if (!Object.hasOwn(durations, field)) {
        problems.push(`${label} is not a setting (remindAfter, remindIntervalMax, escalateAfter, escalateTo, expireAfter)`);
        continue;
      }
      const match = typeof value === 'string' ? DURATION.exec(value) : null;
      const ms = match ? Number(match[1]) * DURATION_MS[match[2] as keyof typeof DURATION_MS] : undefined;
      if (value === null && field !== 'remindIntervalMax') policy[durations[field as keyof typeof durations]] = null as never;
      else if (ms === undefined || ms < TIMER_MS.min || ms > TIMER_MS.max) problems.push(`${label} must be a duration from 1s to 366d such as "90s", "4h" or "3d"${field === 'remindIntervalMax' ? '' : ', or null for never'}`);
      else policy[durations[field as keyof typeof durations]] = ms;
    }
    if (policy.escalateAfterMs !== null && policy.escalateTo.length === 0 && !escalateToRefused) problems.push(`${where}.escalateAfter needs escalateTo: the people the request is escalated to`);
    if (policy.remindAfterMs !== null && policy.remindIntervalMaxMs < policy.remindAfterMs) problems.push(`${where}.remindIntervalMax must be at least remindAfter: it caps the intervals that start there`);
    // A timer at or after expiry would never fire: the approval is over by then.
    for (const [name, at] of [['remindAfter', policy.remindAfterMs], ['escalateAfter', policy.escalateAfterMs]] as const) {
      if (at !== null && policy.expireAfterMs !== null && at >= policy.expireAfterMs) problems.push(`${where}.${name} must be shorter than expireAfter, or it never fires`);
    }
    return policy;
  });
}

/**
 * TLS and SASL to the brokers. Files are read here, once, so an unreadable or mismatched
 * certificate, key or password stops start-up with its variable named instead of failing on every
 * connection. Secrets come from NAME or from the file NAME_FILE (its final line break dropped).
 */
function parseKafkaSecurity(env: NodeJS.ProcessEnv, problems: string[]): { ssl: KafkaTls | undefined; sasl: KafkaSasl | undefined } {
  const value = (name: string): string | undefined => env[name]?.trim() || undefined;
  const read = (name: string): string | undefined => {
    const file = value(name);
    if (file === undefined) return undefined;
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (error) {
      problems.push(`${name}="${file}" cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      return undefined;
    }
  };
  // Secrets are taken as they are (no trimming): a password may end in a space.
  const secret = (name: string): string | undefined => {
    if (env[name] && value(`${name}_FILE`)) {
      problems.push(`set ${name} or ${name}_FILE, not both`);
      return undefined;
    }
    return env[name] || read(`${name}_FILE`)?.replace(/\r?\n$/, '');
  };
  /** The PEM certificates a file holds; a problem if it holds none or one does not parse. */
  const certificates = (name: string, pem: string | undefined): X509Certificate[] => {
    if (pem === undefined) return [];
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    try {
      const parsed = blocks.map((block) => new X509Certificate(block));
      if (parsed.length === 0) problems.push(`${name}="${value(name)}" holds no PEM certificate`);
      return parsed;
    } catch {
      problems.push(`${name}="${value(name)}" holds a certificate that does not parse`);
      return [];
    }
  };

  const sslFlag = value('KAFKA_SSL') ?? 'false';
  if (!['true', 'false'].includes(sslFlag)) problems.push(`KAFKA_SSL="${sslFlag}" must be true or false`);
  const tlsVariables = ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE', 'KAFKA_SSL_KEY_PASSWORD', 'KAFKA_SSL_KEY_PASSWORD_FILE'];
  let ssl: KafkaTls | undefined;
  if (sslFlag !== 'true') {
    for (const name of tlsVariables.filter((n) => env[n]?.trim())) problems.push(`${name} is set but KAFKA_SSL is not true`);
  } else {
    ssl = { ca: read('KAFKA_SSL_CA_FILE'), cert: read('KAFKA_SSL_CERT_FILE'), key: read('KAFKA_SSL_KEY_FILE'), keyPassword: secret('KAFKA_SSL_KEY_PASSWORD') };
    certificates('KAFKA_SSL_CA_FILE', ssl.ca);
    const [leaf] = certificates('KAFKA_SSL_CERT_FILE', ssl.cert);
    if (value('KAFKA_SSL_CERT_FILE') && !value('KAFKA_SSL_KEY_FILE')) problems.push('KAFKA_SSL_CERT_FILE needs KAFKA_SSL_KEY_FILE');
    if (value('KAFKA_SSL_KEY_FILE') && !value('KAFKA_SSL_CERT_FILE')) problems.push('KAFKA_SSL_KEY_FILE needs KAFKA_SSL_CERT_FILE');
    if (ssl.keyPassword !== undefined && !value('KAFKA_SSL_KEY_FILE')) problems.push('KAFKA_SSL_KEY_PASSWORD needs KAFKA_SSL_KEY_FILE');
    if (leaf && Date.parse(leaf.validTo) < Date.now()) problems.push(`KAFKA_SSL_CERT_FILE="${value('KAFKA_SSL_CERT_FILE')}" expired on ${new Date(leaf.validTo).toISOString()}`);
    let key: KeyObject | undefined;
    if (ssl.key !== undefined && ssl.keyPassword === undefined && /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(ssl.key)) {
      problems.push('KAFKA_SSL_KEY_FILE is encrypted: set KAFKA_SSL_KEY_PASSWORD or KAFKA_SSL_KEY_PASSWORD_FILE');
    } else if (ssl.key !== undefined) {
      try {
        key = createPrivateKey({ key: ssl.key, passphrase: ssl.keyPassword });
      } catch {
        problems.push(`KAFKA_SSL_KEY_FILE="${value('KAFKA_SSL_KEY_FILE')}" is not a PEM private key${ssl.keyPassword !== undefined ? ' that KAFKA_SSL_KEY_PASSWORD opens' : ''}`);
      }
    }
    if (leaf && key && !leaf.checkPrivateKey(key)) problems.push('KAFKA_SSL_KEY_FILE is not the key of the certificate in KAFKA_SSL_CERT_FILE');
  }

  const mechanism = value('KAFKA_SASL_MECHANISM')?.toLowerCase();
  const username = value('KAFKA_SASL_USERNAME');
  const password = secret('KAFKA_SASL_PASSWORD');
  if (mechanism === undefined) {
    if (username !== undefined) problems.push('KAFKA_SASL_USERNAME is set but KAFKA_SASL_MECHANISM is not');
    if (password !== undefined) problems.push('KAFKA_SASL_PASSWORD is set but KAFKA_SASL_MECHANISM is not');
    return { ssl, sasl: undefined };
  }
  if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
    problems.push(`KAFKA_SASL_MECHANISM="${value('KAFKA_SASL_MECHANISM')}" must be one of ${SASL_MECHANISMS.join(', ')}`);
    return { ssl, sasl: undefined };
  }
  if (username === undefined) problems.push(`KAFKA_SASL_MECHANISM=${mechanism} needs KAFKA_SASL_USERNAME`);
  // A password file that is set but unreadable has its own problem line already.
  if (!env.KAFKA_SASL_PASSWORD && !value('KAFKA_SASL_PASSWORD_FILE')) problems.push(`KAFKA_SASL_MECHANISM=${mechanism} needs KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE`);
  // PLAIN sends the password itself; only an encrypted connection may carry it.
  if (mechanism === 'plain' && sslFlag !== 'true') problems.push('KAFKA_SASL_MECHANISM=plain sends the password as it is: it needs KAFKA_SSL=true');
  if (username === undefined || password === undefined) return { ssl, sasl: undefined };
  return { ssl, sasl: { mechanism: mechanism as KafkaSasl['mechanism'], username, password } };
}

/** EMAIL_LINK_SECRET (at least 32 characters; unset: no one-click links) and EMAIL_LINK_TTL (a duration, 5m to 30d; default 7d). */
function parseEmailLinks(env: NodeJS.ProcessEnv, problems: string[]): Config['emailLinks'] {
  const secret = env.EMAIL_LINK_SECRET?.trim();
  const ttl = env.EMAIL_LINK_TTL?.trim() || '7d';
  const match = DURATION.exec(ttl);
  const ttlMs = match ? Number(match[1]) * DURATION_MS[match[2] as keyof typeof DURATION_MS] : Number.NaN;
  if (!(ttlMs >= 5 * 60_000 && ttlMs <= 30 * 86_400_000)) problems.push(`EMAIL_LINK_TTL "${ttl}" must be a duration from 5m to 30d`);
  if (!secret) return undefined;
  if (secret.length < 32) problems.push('EMAIL_LINK_SECRET must be at least 32 characters');
  return { secret, ttlMs };
}

const LOCALE_TAG = /^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$/;

/**
 * EMAIL_LOCALE (default en), EMAIL_LOCALES ({ "LOCK_CARD": "sv" }: an operation's language, before
 * the worker's) and EMAIL_TIME_ZONE (an IANA zone, default UTC). A recipient's own locale comes
 * first; a language not shipped falls back to its base language, then to the next in line.
 */
function parseEmailLanguage(env: NodeJS.ProcessEnv, problems: string[]): Config['emailLanguage'] {
  const defaultLocale = env.EMAIL_LOCALE?.trim() || 'en';
  if (!LOCALE_TAG.test(defaultLocale)) problems.push(`EMAIL_LOCALE "${defaultLocale}" is not a language tag such as en, sv or de-AT`);
  const timeZone = env.EMAIL_TIME_ZONE?.trim() || 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    problems.push(`EMAIL_TIME_ZONE "${timeZone}" is not an IANA time zone such as Europe/Stockholm or UTC`);
  }
  const operationLocales: Partial<Record<Operation, string>> = {};
  const json = readJsonObject(env, 'EMAIL_LOCALES', problems);
  for (const [op, tag] of Object.entries(json?.value ?? {})) {
    if (!(OPERATIONS as readonly string[]).includes(op)) problems.push(`${json!.source} has unknown operation "${op}"`);
    else if (typeof tag !== 'string' || !LOCALE_TAG.test(tag)) problems.push(`${json!.source}.${op} must be a language tag such as sv`);
    else operationLocales[op as Operation] = tag;
  }
  return { defaultLocale, operationLocales, timeZone };
}

/** CARD_CONFLICT_POLICY (JSON, e.g. { "LOCK_CARD": "supersede" }) overrides the defaults per operation. */
function parseCardConflictPolicy(raw: string | undefined, problems: string[]): Record<Operation, CardConflictPolicy> {
  const policy = { ...DEFAULT_CARD_CONFLICT_POLICY };
  if (!raw) return policy;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    problems.push('CARD_CONFLICT_POLICY is not valid JSON');
    return policy;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    problems.push('CARD_CONFLICT_POLICY must be a JSON object keyed by operation');
    return policy;
  }
  for (const [operation, value] of Object.entries(parsed)) {
    if (!(OPERATIONS as readonly string[]).includes(operation)) problems.push(`CARD_CONFLICT_POLICY has unknown operation "${operation}"`);
    else if (!CARD_CONFLICT_POLICIES.includes(value as CardConflictPolicy)) problems.push(`CARD_CONFLICT_POLICY.${operation} must be ${CARD_CONFLICT_POLICIES.join(' or ')}`);
    else policy[operation as Operation] = value as CardConflictPolicy;
  }
  return policy;
}

export function allTopics(topics: TopicNames): string[] {
  return [...Object.values(topics.requests), topics.decisions, topics.events, topics.deadLetter];
}

/** The approvers' page's sign-in through an OpenID Connect provider (authorization code flow with PKCE). */
export interface OidcSignInSettings {
  /** The provider's issuer; its discovery document is at <issuer>/.well-known/openid-configuration. */
  issuer: string;
  clientId: string;
  /** A confidential client's secret, sent with HTTP Basic to the token endpoint; a public client has none. */
  clientSecret: string | undefined;
  /** Space-separated; always includes openid. */
  scopes: string;
  /** The RFC 8707 resource indicator asked for, so that the access token is issued for this API. */
  resource: string | undefined;
  /** This worker's /auth/callback as browsers reach it: the redirect URI registered at the provider. */
  redirectUrl: string;
  /** Where the browser lands once signed in: the approvers' page (OPERATOR_URL). */
  pageUrl: string;
}

const LOOPBACK_URL_HOSTS = ['127.0.0.1', '[::1]', 'localhost'];

/**
 * AUTH_OIDC_*. The provider's access tokens are verified like any other bearer token, so OIDC
 * sign-in needs AUTH_JWKS_URL: the keys are pinned in configuration, not taken from the discovery
 * document, and the API keeps verifying tokens while the provider's discovery endpoint is away.
 * Codes and tokens travel in URLs and cookies only over https, except on a loopback host.
 */
function parseOidcSignIn(env: NodeJS.ProcessEnv, problems: string[], config: Config): OidcSignInSettings | undefined {
  const value = (name: string): string | undefined => env[name]?.trim() || undefined;
  const issuer = value('AUTH_OIDC_ISSUER');
  const clientId = value('AUTH_OIDC_CLIENT_ID');
  if (!issuer || !clientId) {
    if (issuer || clientId) problems.push('AUTH_OIDC_ISSUER and AUTH_OIDC_CLIENT_ID go together: set both for OIDC sign-in, or neither');
    for (const name of ['AUTH_OIDC_CLIENT_SECRET', 'AUTH_OIDC_SCOPES', 'AUTH_OIDC_RESOURCE', 'AUTH_OIDC_REDIRECT_URL']) {
      if (value(name)) problems.push(`${name} needs AUTH_OIDC_ISSUER and AUTH_OIDC_CLIENT_ID`);
    }
    return undefined;
  }
  /** An absolute URL without a fragment, on https unless its host is loopback. */
  const secureUrl = (name: string, raw: string): URL | undefined => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      problems.push(`${name}="${raw}" is not a URL`);
      return undefined;
    }
    if (parsed.hash) problems.push(`${name}="${raw}" must not have a fragment`);
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && LOOPBACK_URL_HOSTS.includes(parsed.hostname))) {
      problems.push(`${name}="${raw}" must use https (http only on a loopback host)`);
    }
    return parsed;
  };
  const issuerUrl = secureUrl('AUTH_OIDC_ISSUER', issuer);
  if (issuerUrl?.search) problems.push(`AUTH_OIDC_ISSUER="${issuer}" must not have a query`);

  const scopeList = (value('AUTH_OIDC_SCOPES') ?? 'openid profile email').split(/\s+/);
  if (!scopeList.includes('openid')) problems.push('AUTH_OIDC_SCOPES must include openid');
  for (const scope of scopeList) {
    // RFC 6749 section 3.3: printable ASCII but space, " and \
    if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope)) problems.push(`AUTH_OIDC_SCOPES has an invalid scope "${scope}"`);
  }

  const resource = value('AUTH_OIDC_RESOURCE');
  if (resource !== undefined) {
    try {
      if (new URL(resource).hash) problems.push(`AUTH_OIDC_RESOURCE="${resource}" must not have a fragment`);
    } catch {
      problems.push(`AUTH_OIDC_RESOURCE="${resource}" must be an absolute URI (RFC 8707)`);
    }
  }

  // The callback hands the token to the page through sessionStorage, which is per origin: the
  // callback and the page must share theirs. By default the callback sits beside the page.
  const pageUrl = config.operatorUrl;
  const defaultRedirect = /\/approvals\/?$/.test(new URL(pageUrl, 'http://invalid').pathname) ? pageUrl.replace(/\/approvals\/?$/, '/auth/callback') : undefined;
  const redirectRaw = value('AUTH_OIDC_REDIRECT_URL') ?? defaultRedirect;
  if (redirectRaw === undefined) {
    problems.push(`AUTH_OIDC_REDIRECT_URL is needed: OPERATOR_URL="${pageUrl}" does not end with /approvals, so the callback URL cannot be derived from it`);
  } else {
    const redirect = secureUrl('AUTH_OIDC_REDIRECT_URL', redirectRaw);
    if (redirect && !redirect.pathname.endsWith('/auth/callback')) problems.push(`AUTH_OIDC_REDIRECT_URL="${redirectRaw}" must end with /auth/callback`);
    if (redirect && URL.canParse(pageUrl) && redirect.origin !== new URL(pageUrl).origin) {
      problems.push(`AUTH_OIDC_REDIRECT_URL="${redirectRaw}" must have the same origin as OPERATOR_URL="${pageUrl}" (the page reads the token the callback stores)`);
    }
  }

  if (config.auth.localSignIn) problems.push('AUTH_LOCAL_SIGNIN=true cannot be used with AUTH_OIDC_ISSUER (choose one sign-in)');
  if (!config.auth.jwksUrl) problems.push("AUTH_OIDC_ISSUER needs AUTH_JWKS_URL (the provider's keys, to verify its access tokens)");
  if (config.auth.issuer !== issuer) problems.push(`AUTH_ISSUER="${config.auth.issuer}" must equal AUTH_OIDC_ISSUER="${issuer}" (the iss of the provider's tokens), or be left unset`);
  return {
    issuer,
    clientId,
    clientSecret: value('AUTH_OIDC_CLIENT_SECRET'),
    scopes: scopeList.join(' '),
    resource,
    redirectUrl: redirectRaw ?? '',
    pageUrl,
  };
}
