// The moving parts of one benchmark run: fresh topics and databases, pre-produced requests, the
// baseline consumers (the minimal one, and one writing the worker's rows in raw SQL), worker
// processes with their CPU and memory, and intake measured from the database's own timestamps.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { DataSource } from 'typeorm';
import { createKafka, createProducer } from '../../src/adapters/kafka/kafka-client';
import { AvroCodec } from '../../src/adapters/schema-registry/avro-codec';
import { createDataSource, migrate } from '../../src/data-access/data-source';
import { EmailOutbox } from '../../src/data-access/email-outbox';
import { EventOutbox } from '../../src/data-access/event-outbox';
import { dropDatabase, ensureDatabase } from '../stack/postgres';
import { emailsTo, eventIdFor, type ApprovalEvent } from '../../src/domain/approval';
import { DEFAULT_APPROVAL_POLICY } from '../../src/domain/approval-policy';
import { DEFAULT_TIMER_POLICY } from '../../src/domain/approval-timers';
import { cardKeys } from '../../src/domain/card-conflicts';
import { MAX_TRANSACTION_MESSAGES } from '../../src/entry-points/kafka/approval-consumer';
import { OPERATIONS, type Card, type CardOperationRequest, type Person } from '../../src/domain/card-operation';
import { aCard, aPerson, aRequest } from '../support/builders';
import { allTopics, loadConfig, type Config } from '../../src/libraries/config';
import { createLogger } from '../../src/libraries/logger';
import { pollUntil } from '../../src/libraries/retry';
import { ROOT, WORKER_ARGS } from '../support/build';
import { createTopics, deleteSubjects, deleteTopics } from '../support/topics';
import { cpuSecondsOf } from './process-cpu';
import { SEED_EVENTS_CHUNK, SEED_EVENTS_SQL, SEED_OUTBOX_SQL, SEED_SQL } from './seed';

export const logger = createLogger('silent');
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
}

/**
 * Waits (up to 10 min) until `probe` answers true. Every 250 ms: the probes count rows, and
 * counting more often would take database time from what is measured (rates come from the
 * rows' own timestamps, so a later look does not change them).
 */
export const waitUntil = async (what: string, probe: () => Promise<boolean>, timeoutMs = 600_000): Promise<void> =>
  void (await pollUntil(probe, Boolean, { what, timeoutMs, intervalMs: 250 }));

export const count = async (db: DataSource, sql: string): Promise<number> => (await db.query(sql))[0].n as number;

/** Topics of one run (a fresh prefix), with the config a worker of this run gets. */
export interface TopicsRun {
  id: string;
  config: Config;
  env: Record<string, string>;
  codec: AvroCodec;
}

const created: string[] = [];

/** Deletes every topic the bench created, and their registry subjects, so neither grows with each run. */
export async function dropTopics(): Promise<void> {
  const config = loadConfig(process.env);
  const topics = created.splice(0);
  await deleteTopics(createKafka(config.kafka, logger, 'bench'), topics);
  await deleteSubjects(config.schemaRegistryUrl, topics);
}

export async function freshTopics(partitions: number): Promise<TopicsRun> {
  const id = `b${randomUUID().slice(0, 8)}`;
  const env = { TOPIC_PREFIX: `bench-${id}.`, TOPIC_PARTITIONS: String(partitions), HTTP_PORT: '0', LOG_LEVEL: 'warn' };
  const config = loadConfig({ ...process.env, ...env });
  await createTopics(createKafka(config.kafka, logger, 'bench'), allTopics(config.topics), partitions);
  created.push(...allTopics(config.topics));
  return { id, config, env, codec: new AvroCodec(config.schemaRegistryUrl) };
}

/** More topics for a run (`names` under its prefix), deleted with the rest at the end. */
export async function moreTopics(run: TopicsRun, names: string[], partitions: number): Promise<string[]> {
  const topics = names.map((name) => `${run.env.TOPIC_PREFIX}${name}`);
  await createTopics(createKafka(run.config.kafka, logger, 'bench'), topics, partitions);
  created.push(...topics);
  return topics;
}

/** A fresh, migrated database; `drop` removes it. */
export async function freshDatabase(): Promise<{ url: string; db: DataSource; drop: () => Promise<void> }> {
  const url = `postgres://postgres@127.0.0.1:5432/card_approvals_bench_${randomUUID().slice(0, 8)}`;
  await ensureDatabase(url);
  const db = await createDataSource(url, 4).initialize();
  await migrate(db);
  return {
    url,
    db,
    drop: async () => {
      await db.destroy();
      if (!process.argv.includes('--keep-db')) await dropDatabase(url);
    },
  };
}

/**
 * A fresh database holding `stored` seeded records and what a worker kept of them (events, their
 * history and sent emails), vacuumed and checkpointed: a large database at rest, not the
 * aftermath of a bulk load (autovacuum and the load's checkpoint would fall inside what is measured).
 */
export async function seededDatabase(stored: number): Promise<Awaited<ReturnType<typeof freshDatabase>> & { seedSeconds: number }> {
  const database = await freshDatabase();
  const started = Date.now();
  await database.db.query(SEED_SQL, [stored]);
  for (let from = 1; from <= stored; from += SEED_EVENTS_CHUNK) await database.db.query(SEED_EVENTS_SQL, [from, Math.min(stored, from + SEED_EVENTS_CHUNK - 1)]);
  for (const statement of SEED_OUTBOX_SQL) await database.db.query(statement);
  await database.db.query('VACUUM ANALYZE');
  await database.db.query('CHECKPOINT');
  return { ...database, seedSeconds: (Date.now() - started) / 1000 };
}

const person = (id: string): Person => aPerson('person', { id, name: `Person ${id}`, email: `${id}@bench.example.com` });

/** Mixed operations, one or three cards, two approvers each (one of 500 pairs). */
export function requestsFor(n: number): CardOperationRequest[] {
  const run = randomUUID().slice(0, 8);
  return Array.from({ length: n }, (_, i) => {
    const operation = OPERATIONS[i % OPERATIONS.length]!;
    const card = (k: number): Card => aCard(person(`holder-${i}-${k}`), { cardId: `card-${run}-${i}-${k}`, serialNumber: `SN-${run}-${i}-${k}`, validTo: Date.UTC(2028, 0, 1) });
    return aRequest(operation, {
      requestId: `bench-${run}-${i}`,
      requester: person(`requester-${i % 5000}`),
      cards: operation === 'REQUEST_MULTIPLE_CARDS' ? [card(1), card(2), card(3)] : [card(1)],
      description: `Benchmark ${operation.toLowerCase()} for a new employee wave, request ${i}`,
      approvers: [person(`approver-${i % 500}`), person(`approver-${(i + 1) % 500}`)],
      attributes: { source: 'bench', costCenter: `CC-${i % 97}` },
    });
  });
}

export async function produceRequests(run: TopicsRun, requests: CardOperationRequest[]): Promise<void> {
  const { config, codec } = run;
  const producer = createProducer(createKafka(config.kafka, logger, 'bench-producer'));
  await producer.connect();
  const ids = new Map<string, number>();
  for (const topic of Object.values(config.topics.requests)) ids.set(topic, await codec.register(`${topic}-value`, 'card-operation-request'));
  for (let i = 0; i < requests.length; i += 1000) {
    const byTopic = new Map<string, Array<{ key: string; value: Buffer }>>();
    for (const r of requests.slice(i, i + 1000)) {
      const topic = config.topics.requests[r.operation];
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), { key: r.requestId, value: await codec.encode(ids.get(topic)!, r) }]);
    }
    await producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
  }
  await producer.disconnect();
}

/**
 * The baselines' pipeline: the run's requests consumed by a group of its own (`name`), decoded
 * through the registry a batch at a time and handed to `write`, the events it returns produced,
 * `published` told of them once produced, the batch's offset committed. It processes as many partitions at once as the worker, with the
 * worker's idle fetch wait, so it stops as quickly. Seconds from the first batch to the `n`th request.
 */
async function consumeRequests(
  run: TopicsRun,
  n: number,
  name: string,
  write: (requests: CardOperationRequest[]) => Promise<ApprovalEvent[]>,
  published?: (events: ApprovalEvent[]) => Promise<void>,
): Promise<number> {
  const { config, codec } = run;
  const kafka = createKafka(config.kafka, logger, `bench-${name}`);
  const producer = createProducer(kafka);
  await producer.connect();
  const eventSchema = await codec.register(`${config.topics.events}-value`, 'approval-event');
  const consumer = kafka.consumer({ groupId: `${name}-${randomUUID()}`, maxWaitTimeInMs: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topics: Object.values(config.topics.requests), fromBeginning: true });
  let done = 0;
  let began = 0;
  const seconds = await new Promise<number>((resolve) => {
    void consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: config.kafka.partitionsConcurrently,
      eachBatch: async ({ batch, resolveOffset }) => {
        if (!began) began = Date.now();
        const decoded = await Promise.all(batch.messages.map((m) => codec.decode<CardOperationRequest>(m.value, 'card-operation-request')));
        const events = await write(decoded);
        const messages = await Promise.all(events.map(async (e) => ({ key: e.requestId, value: await codec.encode(eventSchema, e) })));
        await producer.send({ topic: config.topics.events, acks: -1, messages });
        await published?.(events);
        const last = batch.messages[batch.messages.length - 1]!.offset;
        resolveOffset(last);
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
        done += batch.messages.length;
        if (done >= n) resolve((Date.now() - began) / 1000);
      },
    });
  });
  await consumer.disconnect();
  await producer.disconnect();
  return seconds;
}

/**
 * The limit: consume the same messages, decode them, insert one row each in batches, commit
 * offsets and produce one event each, with no business logic. Requests/s.
 */
export async function baseline(run: TopicsRun, db: DataSource, n: number): Promise<number> {
  await db.query('CREATE TABLE IF NOT EXISTS baseline_rows (request_id text PRIMARY KEY, body jsonb NOT NULL)');
  const seconds = await consumeRequests(run, n, 'baseline', async (decoded) => {
    await db.query(
      `INSERT INTO baseline_rows (request_id, body) SELECT r->>'requestId', r FROM jsonb_array_elements($1::jsonb) AS r ON CONFLICT DO NOTHING`,
      [JSON.stringify(decoded)],
    );
    const now = Date.now();
    return decoded.map((r): ApprovalEvent => ({ eventId: r.requestId, type: 'OPENED', requestId: r.requestId, operation: r.operation, status: 'PENDING', occurredAt: now, requester: r.requester, cards: r.cards, description: r.description, approvers: r.approvers, requestedAt: r.requestedAt, dueAt: null, decision: null, refusalCode: null, message: null, progress: null, cardResults: [] }));
  });
  await db.query('DROP TABLE baseline_rows');
  return n / seconds;
}

/** The tables intake writes: the worker's statement, and the database's triggers (the history, and the audit keys of its people). */
export const INTAKE_TABLES = ['approval_requests', 'approval_events', 'approval_history', 'email_outbox', 'approval_card_keys', 'approval_timers', 'audit_person_keys'] as const;

export async function rowCounts(db: DataSource): Promise<Record<(typeof INTAKE_TABLES)[number], number>> {
  const [row] = await db.query(`SELECT ${INTAKE_TABLES.map((t) => `(SELECT count(*)::int FROM ${t}) AS ${t}`).join(', ')}`);
  return row;
}

/**
 * Per intake table, a digest of its rows without what differs between two runs of the same
 * requests: the batch's time (kept as intervals from the record's opening where it sets a timer),
 * the generated keys and the chain hashes that cover them, the random audit keys and the digests
 * made with them, and what publishing and sending change later (the outbox's state columns). Two
 * databases with the same digests hold the same rows, column by column.
 */
const INTAKE_DIGESTS: Record<(typeof INTAKE_TABLES)[number], string> = {
  approval_requests: `SELECT (to_jsonb(t) - 'opened_at' - 'updated_at')::text AS row, request_id AS k FROM approval_requests t`,
  approval_events: `SELECT (to_jsonb(t) - 'seq' - 'occurred_at' - 'published_at' - 'publish_attempts' - 'locked_until' - 'last_error' - 'parked_at'
      || jsonb_build_object('payload', payload - 'occurredAt'))::text AS row, event_id AS k FROM approval_events t`,
  approval_history: `SELECT (to_jsonb(t) - 'seq' - 'occurred_at' - 'digest_key' - 'actor_digest' - 'reason_digest' - 'prev_hash' - 'hash'
      || jsonb_build_object('chained', hash IS NOT NULL, 'actorDigest', actor_digest IS NOT NULL))::text AS row, event_id AS k FROM approval_history t`,
  email_outbox: `SELECT (to_jsonb(t) - 'id' - 'status' - 'attempts' - 'next_attempt_at' - 'locked_until' - 'last_error' - 'created_at' - 'sent_at' - 'lease_token')::text AS row,
      message_id AS k FROM email_outbox t`,
  approval_card_keys: `SELECT to_jsonb(t)::text AS row, card_key AS k FROM approval_card_keys t`,
  approval_timers: `SELECT (to_jsonb(t) - 'remind_at' - 'escalate_at' - 'expire_at' - 'next_at'
      || jsonb_build_object('remind', (t.remind_at - r.opened_at)::text, 'escalate', (t.escalate_at - r.opened_at)::text,
                            'expire', (t.expire_at - r.opened_at)::text, 'next', (t.next_at - r.opened_at)::text))::text AS row,
      request_id AS k FROM approval_timers t LEFT JOIN approval_requests r USING (request_id)`,
  audit_person_keys: `SELECT person AS row, person AS k FROM audit_person_keys`,
};

export async function rowDigests(db: DataSource): Promise<Record<(typeof INTAKE_TABLES)[number], string>> {
  const [row] = await db.query(`SELECT ${INTAKE_TABLES.map((t) => `(SELECT md5(coalesce(string_agg(row, E'\\n' ORDER BY k), '')) FROM (${INTAKE_DIGESTS[t]}) AS d) AS ${t}`).join(', ')}`);
  return row;
}

/** The stage every request opens in under the default policy, which the bench's workers run with: the request's approvers, under its rule. */
const [DEFAULT_STAGE] = DEFAULT_APPROVAL_POLICY.stages.map(({ name, rule }) => ({ name, rule }));

/**
 * Every row the worker writes when a request opens, in one statement, from one JSON element per
 * request: its OPENED event (the payload, and most of the record) with what the record adds, and
 * its cards' keys ($1); the approvers' emails as the worker's outbox writes them ($2).
 */
const SAME_EFFECTS_SQL = `WITH input AS (SELECT x, x->'event' AS e, to_timestamp((x->'event'->>'occurredAt')::float8 / 1000) AS now FROM jsonb_array_elements($1::jsonb) AS x),
  records AS (
    INSERT INTO approval_requests (request_id, operation, status, requester, cards, approvers, requested_approvers, approval_rule, stages, description, attributes, requested_at, opened_at, updated_at, due_at)
    SELECT e->>'requestId', e->>'operation', e->>'status', e->'requester', e->'cards', e->'approvers', e->'approvers', nullif(x->'approvalRule', 'null'),
           jsonb_build_array($3::jsonb || jsonb_build_object('approvers', e->'approvers')), e->>'description', x->'attributes',
           to_timestamp((e->>'requestedAt')::float8 / 1000), now, now, to_timestamp((e->>'dueAt')::float8 / 1000)
    FROM input ON CONFLICT DO NOTHING),
  events AS (
    INSERT INTO approval_events (event_id, request_id, type, status_after, actor, payload, occurred_at, locked_until)
    SELECT e->>'eventId', e->>'requestId', e->>'type', e->>'status', e->'requester', e, now, clock_timestamp() + make_interval(secs => $4 / 1000.0)
    FROM input ON CONFLICT DO NOTHING),
  ${EmailOutbox.insertCte('$2')},
  keys AS (INSERT INTO approval_card_keys (card_key, request_id) SELECT k, e->>'requestId' FROM input, jsonb_array_elements_text(x->'cardKeys') AS k ON CONFLICT DO NOTHING),
  timers AS (
    INSERT INTO approval_timers (request_id, remind_at, expire_at, next_at)
    SELECT e->>'requestId', t.remind_at, t.expire_at, least(t.remind_at, t.expire_at)
    FROM input, LATERAL (SELECT now + make_interval(secs => $5 / 1000.0) AS remind_at, now + make_interval(secs => $6 / 1000.0) AS expire_at) AS t
    ON CONFLICT DO NOTHING)
  SELECT 1`;

/**
 * Intake with the same effects, in raw SQL: the baseline's pipeline, writing into `db` (freshly
 * migrated: the same tables, indexes and triggers) the rows the worker writes when a request opens
 * under the default policies (the record, its OPENED event, which the database copies into the
 * history with its audit chain, an email to each approver, its cards' keys and its timers), one
 * statement and transaction per batch of at most the worker's transaction size, built straight
 * from the messages. The events produced are the worker's, marked published once produced with the
 * worker's own statement. Requests/s, read as the worker's intake is.
 */
export async function sameEffects(run: TopicsRun, db: DataSource, n: number): Promise<number> {
  const { config } = run;
  const requester = (r: CardOperationRequest): string => r.requester.id.toLowerCase();
  const outbox = new EventOutbox(db, config.outboxLeaseMs);
  await consumeRequests(run, n, 'same-effects', async (decoded) => {
    // The history's trigger makes a person's audit key on first need: rows in one order of
    // requesters take those keys' locks in one order, so two batches never deadlock on them.
    decoded.sort((a, b) => (requester(a) < requester(b) ? -1 : requester(a) > requester(b) ? 1 : 0));
    const events: ApprovalEvent[] = [];
    for (let i = 0; i < decoded.length; i += MAX_TRANSACTION_MESSAGES) {
      const requests = decoded.slice(i, i + MAX_TRANSACTION_MESSAGES);
      const now = Date.now();
      const opened = requests.map((r): ApprovalEvent => ({ eventId: eventIdFor.opened(r.requestId), type: 'OPENED', requestId: r.requestId, operation: r.operation, status: 'PENDING', occurredAt: now, requester: r.requester, cards: r.cards, description: r.description, approvers: r.approvers, requestedAt: r.requestedAt, dueAt: r.dueAt, decision: null, refusalCode: null, message: null, progress: { stage: 1, stages: 1, stageName: DEFAULT_STAGE!.name, approvals: 0, required: 1 }, cardResults: [] }));
      await db.query(SAME_EFFECTS_SQL, [
        JSON.stringify(requests.map((r, k) => ({ event: opened[k], attributes: r.attributes, approvalRule: r.approvalRule, cardKeys: cardKeys(r.cards) }))),
        EmailOutbox.emailRows(opened.flatMap((e) => emailsTo(e.eventId, e.approvers, 'approval-requested', config.smtp.messageIdDomain))),
        JSON.stringify(DEFAULT_STAGE),
        config.outboxLeaseMs,
        DEFAULT_TIMER_POLICY.remindAfterMs,
        DEFAULT_TIMER_POLICY.expireAfterMs,
      ]);
      events.push(...opened);
    }
    return events;
  }, (events) => outbox.markPublished(events.map((e) => e.eventId)));
  return measureIntake(db, n);
}

/** A bench helper written in TypeScript, in a process of its own with an IPC channel. */
export function forkHelper(file: string, env: Record<string, string> = {}): ChildProcess {
  return fork(path.join(__dirname, file), [], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
}

/** The next IPC message from `child` that `pick` accepts (returns a value for). */
export function nextMessage<T>(child: ChildProcess, pick: (message: any) => T | undefined, timeoutMs = 60_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('no answer from a bench helper')), timeoutMs);
    const onExit = (code: number | null): void => done(new Error(`a bench helper exited (${code})`));
    const onMessage = (message: unknown): void => {
      const value = pick(message);
      if (value !== undefined) done(undefined, value);
    };
    function done(error?: Error, value?: T): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(value as T);
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

export interface SmtpSink {
  url: string;
  pid: number | undefined;
  received: () => Promise<{ count: number; bytes: number }>;
  stop: () => void;
}

/** The counting SMTP sink (smtp-sink.ts) in its own process. */
export async function startSmtpSink(): Promise<SmtpSink> {
  const child = forkHelper('smtp-sink.ts');
  const port = await nextMessage(child, (m: { port?: number }) => m.port);
  return {
    url: `smtp://127.0.0.1:${port}?tls=off`,
    pid: child.pid,
    received: () => {
      const answer = nextMessage(child, (m: { count?: number; bytes: number }) => (m.count === undefined ? undefined : { count: m.count, bytes: m.bytes }));
      child.send('count');
      return answer;
    },
    stop: () => void child.kill(),
  };
}

/**
 * The email baseline: `n` copies of one rendered email sent with nodemailer alone, pooled over
 * `connections` connections as the worker's mailer is, to `smtpUrl`. Emails/s.
 */
export async function emailBaseline(smtpUrl: string, email: { subject: string; html: string; text: string }, n: number, connections: number): Promise<number> {
  const url = new URL(smtpUrl);
  const transport = nodemailer.createTransport({ pool: true, maxConnections: connections, host: url.hostname, port: Number(url.port), ignoreTLS: true });
  const started = Date.now();
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      transport.sendMail({ from: 'bench@bench.example.com', to: `approver-${i % 500}@bench.example.com`, subject: email.subject, html: email.html, text: email.text, messageId: `<baseline-${i}@bench.example.com>` }),
    ),
  );
  const seconds = (Date.now() - started) / 1000;
  transport.close();
  return n / seconds;
}

export interface WorkerProcess {
  pid: number | undefined;
  usage: () => { cpuSeconds: number; peakRssMb: number };
  stop: () => Promise<{ cpuSeconds: number; peakRssMb: number }>;
}

/** A worker process started as in production, with its CPU time and peak RSS read from /proc. */
export function startWorkerProcess(env: Record<string, string>): WorkerProcess {
  // --profile writes the worker's CPU profile to bench-results/ when it exits.
  const profile = process.argv.includes('--profile') ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ROOT, 'bench-results')}`] : [];
  // The access log is written as in production, to a file, so that it does not flood the bench's stderr.
  const accessLog = path.join(ROOT, 'bench-results', 'access.log');
  const child = spawn(process.execPath, [...profile, ...WORKER_ARGS], { cwd: ROOT, env: { ...process.env, ACCESS_LOG: accessLog, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const usage = (): { cpuSeconds: number; peakRssMb: number } => {
    const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSeconds: cpuSecondsOf(child.pid!), peakRssMb: Math.round(hwm / 1024) };
  };
  return {
    pid: child.pid,
    usage,
    stop: async () => {
      const last = usage();
      child.kill('SIGTERM');
      await exited;
      return last;
    },
  };
}

/** Starts `instances` workers of one group on the run's topics and `databaseUrl`. */
export function startWorkers(run: TopicsRun, databaseUrl: string, instances: number, extraEnv: Record<string, string> = {}): WorkerProcess[] {
  const env = { ...run.env, DATABASE_URL: databaseUrl, KAFKA_GROUP_ID: `bench-worker-${run.id}-${randomUUID().slice(0, 4)}`, ...extraEnv };
  return Array.from({ length: instances }, () => startWorkerProcess(env));
}

/**
 * Requests/s from the first record opened to the `n`th, once all are in. Read from the OPENED
 * entries of the history (written in the same transaction as the records) since `since`: a seeded
 * database's history is older.
 */
export async function measureIntake(db: DataSource, n: number, since = new Date(0)): Promise<number> {
  const opened = `FROM approval_history WHERE type = 'OPENED' AND occurred_at >= '${since.toISOString()}'`;
  await waitUntil('all records', async () => (await count(db, `SELECT count(*)::int AS n ${opened}`)) >= n);
  return rateOf(db, `SELECT occurred_at AS at ${opened}`);
}

/**
 * Rows per second from timestamps stamped once per batch (`at`): the rows after the first
 * batch over the time from the first batch to the last. Counting the first batch too would
 * give an infinite rate when everything fits in one batch.
 */
export async function rateOf(db: DataSource, rowsSql: string): Promise<number> {
  const [r] = await db.query(
    `WITH t AS (${rowsSql}) SELECT count(*) FILTER (WHERE at > (SELECT min(at) FROM t))::int AS after_first,
       extract(epoch FROM max(at) - min(at))::float8 AS s FROM t`,
  );
  return r.s > 0 ? r.after_first / r.s : NaN;
}
