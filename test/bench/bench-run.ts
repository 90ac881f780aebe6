// The moving parts of one benchmark run: fresh topics and databases, pre-produced requests, the
// baseline consumer, worker processes with their CPU and memory, and intake measured from the
// database's own timestamps.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { DataSource } from 'typeorm';
import { createKafka, createProducer } from '../../src/adapters/kafka/kafka-client';
import { AvroCodec } from '../../src/adapters/schema-registry/avro-codec';
import { createDataSource, migrate } from '../../src/data-access/data-source';
import { dropDatabase, ensureDatabase } from '../stack/postgres';
import type { ApprovalEvent } from '../../src/domain/approval';
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
 * The limit: consume the same messages, decode them, insert one row each in batches, commit
 * offsets and produce one event each, with no business logic. Requests/s.
 */
export async function baseline(run: TopicsRun, db: DataSource, n: number): Promise<number> {
  const { config, codec } = run;
  await db.query('CREATE TABLE IF NOT EXISTS baseline_rows (request_id text PRIMARY KEY, body jsonb NOT NULL)');
  const kafka = createKafka(config.kafka, logger, 'bench-baseline');
  const producer = createProducer(kafka);
  await producer.connect();
  const eventSchema = await codec.register(`${config.topics.events}-value`, 'approval-event');
  // The worker's idle fetch wait, so the baseline stops as quickly as the worker.
  const consumer = kafka.consumer({ groupId: `baseline-${randomUUID()}`, maxWaitTimeInMs: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topics: Object.values(config.topics.requests), fromBeginning: true });
  let done = 0;
  let began = 0;
  const seconds = await new Promise<number>((resolve) => {
    void consumer.run({
      autoCommit: false,
      // The same number of partitions at once as the worker.
      partitionsConsumedConcurrently: config.kafka.partitionsConcurrently,
      eachBatch: async ({ batch, resolveOffset }) => {
        if (!began) began = Date.now();
        const decoded = await Promise.all(batch.messages.map((m) => codec.decode<CardOperationRequest>(m.value, 'card-operation-request')));
        await db.query(
          `INSERT INTO baseline_rows (request_id, body) SELECT r->>'requestId', r FROM jsonb_array_elements($1::jsonb) AS r ON CONFLICT DO NOTHING`,
          [JSON.stringify(decoded)],
        );
        const now = Date.now();
        const events = await Promise.all(
          decoded.map(async (r) => {
            const event: ApprovalEvent = { eventId: r.requestId, type: 'OPENED', requestId: r.requestId, operation: r.operation, status: 'PENDING', occurredAt: now, requester: r.requester, cards: r.cards, description: r.description, approvers: r.approvers, requestedAt: r.requestedAt, dueAt: null, decision: null, refusalCode: null, message: null, progress: null, cardResults: [] };
            return { key: r.requestId, value: await codec.encode(eventSchema, event) };
          }),
        );
        await producer.send({ topic: config.topics.events, acks: -1, messages: events });
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
  await db.query('DROP TABLE baseline_rows');
  return n / seconds;
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
