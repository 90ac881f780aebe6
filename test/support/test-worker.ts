// Runs the real worker in-process against the real stack, on topics and a consumer group of its
// own, and records what it publishes (events, dead letters) as an outside consumer would see it.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import type { IHeaders } from 'kafkajs';
import { createKafka, createProducer, createWatcher, type Consumer, type Producer } from '../../src/adapters/kafka/kafka-client';
import { decisionPublisher } from '../../src/adapters/kafka/decision-publisher';
import { AvroCodec } from '../../src/adapters/schema-registry/avro-codec';
import { createDataSource } from '../../src/data-access/data-source';
import { dropDatabase, ensureDatabase } from '../stack/postgres';
import type { ApprovalEvent } from '../../src/domain/approval';
import type { ApprovalDecision, CardOperationRequest } from '../../src/domain/card-operation';
import { allTopics, loadConfig, type Config } from '../../src/libraries/config';
import { createLogger } from '../../src/libraries/logger';
import { startWorker, type RunningWorker } from '../../src/worker';
import { pollUntil } from '../../src/libraries/retry';
import { createTopics, deleteSubjects, deleteTopics } from './topics';

export interface DeadLetterSeen {
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

export interface Harness {
  config: Config;
  /** The file the in-process workers log to (a test artifact). */
  logFile: string;
  /** The file their access log goes to (ACCESS_LOG; a test artifact). */
  accessLogFile: string;
  /** The variables that point a worker at this harness's topics and database. */
  env: Record<string, string>;
  db: DataSource;
  /** Publishes a request on its operation's topic, then any decisions made on it. */
  publishRequest(request: CardOperationRequest, ...decisions: ApprovalDecision[]): Promise<void>;
  publishDecision(decision: ApprovalDecision): Promise<void>;
  /** Decisions in one produce request, so the worker gets them in one batch. */
  publishDecisions(...decisions: ApprovalDecision[]): Promise<void>;
  publishRaw(topic: string, key: string | null, value: Buffer | null): Promise<void>;
  /** Several messages in one produce request, so the worker gets them in one batch. */
  publishRawBatch(topic: string, messages: Array<{ key: string | null; value: Buffer | null; partition?: number }>): Promise<void>;
  encodeWith(subject: string, schema: 'card-operation-request' | 'approval-decision' | 'approval-event', value: unknown): Promise<Buffer>;
  eventsFor(requestId: string): ApprovalEvent[];
  /** The value bytes of each event of `requestId` on the topic, as published (wire format, not decoded). */
  rawEventsFor(requestId: string): Buffer[];
  waitForEvents(requestId: string, count: number, timeoutMs?: number): Promise<ApprovalEvent[]>;
  waitForDeadLetter(match: (d: DeadLetterSeen) => boolean, timeoutMs?: number): Promise<DeadLetterSeen>;
  /** Every dead letter seen so far. */
  deadLettersSeen(): DeadLetterSeen[];
  /** Publishes a request that can never be opened and waits for its dead letter. */
  deadLetterOf(request: CardOperationRequest): Promise<DeadLetterSeen>;
  record(requestId: string): Promise<Record<string, unknown> | undefined>;
  /** Starts a worker in-process; `overrides` change its configuration (a fix, say). */
  startWorker(overrides?: Record<string, string>): Promise<RunningWorker>;
  stop(): Promise<void>;
}

const text = (headers: IHeaders | undefined): Record<string, string> =>
  Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? String(v[0]) : String(v ?? '')]));

export async function startHarness(overrides: Record<string, string> = {}): Promise<Harness> {
  const run = randomUUID().slice(0, 8);
  // A database of its own: the outbox relays of harnesses running side by side would otherwise
  // publish each other's events to their own topics.
  const databaseUrl = new URL(process.env.DATABASE_URL!);
  databaseUrl.pathname = `${databaseUrl.pathname}_${run}`;
  await ensureDatabase(databaseUrl.toString());
  // The worker's logs are kept as test artifacts, one file per harness, and one for its access log.
  const logFile = path.join(__dirname, '..', '..', 'test-artifacts', `worker-${run}.log`);
  const accessLogFile = path.join(__dirname, '..', '..', 'test-artifacts', `access-${run}.log`);
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl.toString(),
    TOPIC_PREFIX: `test-${run}.`,
    KAFKA_GROUP_ID: `card-approval-worker-${run}`,
    TOPIC_PARTITIONS: '2',
    HTTP_PORT: '0',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    ACCESS_LOG: accessLogFile,
    ...overrides,
  };
  const config = loadConfig({ ...process.env, ...env });
  const logger = createLogger(config.logLevel, logFile);
  const codec = new AvroCodec(config.schemaRegistryUrl);
  const kafka = createKafka(config.kafka, logger, `test-${run}`);
  await createTopics(kafka, allTopics(config.topics), config.kafka.partitions);

  // The registration itself is cached, so messages encoded at once register their schema once
  // (the registry refuses a second concurrent registration of a subject with 409).
  const schemaIds = new Map<string, Promise<number>>();
  const schemaId = (subject: string, schema: 'card-operation-request' | 'approval-decision' | 'approval-event'): Promise<number> => {
    const key = `${subject}/${schema}`;
    if (!schemaIds.has(key)) schemaIds.set(key, codec.register(subject, schema));
    return schemaIds.get(key)!;
  };

  const producer: Producer = createProducer(kafka);
  await producer.connect();
  const publishDecisions = decisionPublisher({ codec, producer, topic: config.topics.decisions });
  const db = await createDataSource(config.databaseUrl, 2).initialize();

  const events: ApprovalEvent[] = [];
  const rawEvents: Array<{ key: string | null; value: Buffer }> = [];
  const deadLetters: DeadLetterSeen[] = [];
  const observer: Consumer = createWatcher(kafka, `observer-${run}`);
  await observer.connect();
  await observer.subscribe({ topics: [config.topics.events, config.topics.deadLetter], fromBeginning: true });
  await observer.run({
    eachMessage: async ({ topic, message }) => {
      if (topic === config.topics.events) {
        const event = await codec.decode<ApprovalEvent>(message.value, 'approval-event');
        events.push(event);
        rawEvents.push({ key: message.key?.toString() ?? null, value: message.value! });
      } else {
        deadLetters.push({ key: message.key?.toString() ?? null, value: message.value, headers: text(message.headers) });
      }
    },
  });

  const workers: RunningWorker[] = [];
  const harness: Harness = {
    config,
    logFile,
    accessLogFile,
    env,
    db,
    async publishRequest(request, ...decisions) {
      const topic = config.topics.requests[request.operation];
      const value = await harness.encodeWith(`${topic}-value`, 'card-operation-request', request);
      await producer.send({ topic, messages: [{ key: request.requestId, value }] });
      if (decisions.length > 0) await publishDecisions(...decisions);
    },
    publishDecision: (decision) => publishDecisions(decision),
    publishDecisions,
    async publishRaw(topic, key, value) {
      await producer.send({ topic, messages: [{ key, value }] });
    },
    async publishRawBatch(topic, messages) {
      await producer.send({ topic, messages });
    },
    async encodeWith(subject, schema, value) {
      return codec.encode(await schemaId(subject, schema), value);
    },
    eventsFor: (requestId) => events.filter((e) => e.requestId === requestId),
    rawEventsFor: (requestId) => rawEvents.filter((e) => e.key === requestId).map((e) => e.value),
    waitForEvents: (requestId, count, timeoutMs = 30_000) =>
      pollUntil(async () => harness.eventsFor(requestId), (found) => found.length >= count, { timeoutMs, what: `${count} event(s) for ${requestId}` }),
    waitForDeadLetter: (match, timeoutMs = 30_000) =>
      pollUntil(async () => deadLetters.find(match), (found) => found !== undefined, { timeoutMs, what: 'a dead letter' }) as Promise<DeadLetterSeen>,
    deadLettersSeen: () => [...deadLetters],
    async deadLetterOf(request) {
      await harness.publishRequest(request);
      return harness.waitForDeadLetter((d) => d.key === request.requestId);
    },
    async record(requestId) {
      const rows: Array<Record<string, unknown>> = await db.query('SELECT * FROM approval_requests WHERE request_id = $1', [requestId]);
      return rows[0];
    },
    async startWorker(overrides = {}) {
      const worker = await startWorker(loadConfig({ ...process.env, ...env, ...overrides }), logger);
      workers.push(worker);
      return worker;
    },
    async stop() {
      await Promise.allSettled(workers.map((w) => w.stop()));
      await Promise.allSettled([observer.disconnect(), producer.disconnect()]);
      await deleteTopics(kafka, allTopics(config.topics)).catch(() => undefined);
      await deleteSubjects(config.schemaRegistryUrl, allTopics(config.topics));
      await db.destroy();
      await dropDatabase(databaseUrl.toString());
    },
  };
  return harness;
}

/** An HS256 secret long enough for the API's local tokens, for tests that call the API. */
export const TEST_AUTH_SECRET = 'test-secret-that-is-long-enough-0123456789';

/** A harness with one in-process worker, and the base URL of that worker's HTTP port. */
export async function startHarnessWithWorker(overrides: Record<string, string> = {}): Promise<{ harness: Harness; base: string }> {
  const harness = await startHarness(overrides);
  return { harness, base: `http://127.0.0.1:${(await harness.startWorker()).httpPort}` };
}
