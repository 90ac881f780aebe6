// `npm run bench`: throughput and latency of the worker against the real local stack, side by side
// with a baseline that does only the unavoidable work on the same broker and database in the same
// run. Options: --requests N (default 20000), --partitions P (default 4), --rate R decisions/s
// offered for the latency phase (default 500), --latency-seconds S (default 10).
// Writes bench-results/<time>.json and prints a table.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { createKafka, createProducer, ensureTopics } from '../../src/adapters/kafka/kafka-client';
import { AvroCodec } from '../../src/adapters/schema-registry/avro-codec';
import { createDataSource, migrate } from '../../src/data-access/data-source';
import { stackUp } from '../../src/dev-stack/local-stack';
import { dropDatabase, ensureDatabase } from '../../src/dev-stack/postgres';
import type { ApprovalEvent } from '../../src/domain/approval';
import { OPERATIONS, type ApprovalDecision, type CardOperationRequest, type Person } from '../../src/domain/card-operation';
import { allTopics, loadConfig, type Config } from '../../src/libraries/config';
import { createLogger } from '../../src/libraries/logger';
import { ROOT, WORKER_ARGS, ensureBuilt } from '../support/build';

const opt = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const logger = createLogger('silent');

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;
}

async function pollUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function setup(partitions: number): Promise<{ config: Config; env: Record<string, string>; db: DataSource; codec: AvroCodec; close: () => Promise<void> }> {
  const run = `b${randomUUID().slice(0, 8)}`;
  const databaseUrl = `postgres://postgres@127.0.0.1:5432/card_approvals_bench_${run}`;
  await ensureDatabase(databaseUrl);
  const env = {
    DATABASE_URL: databaseUrl,
    TOPIC_PREFIX: `bench-${run}.`,
    KAFKA_GROUP_ID: `bench-worker-${run}`,
    TOPIC_PARTITIONS: String(partitions),
    HTTP_PORT: '0',
    LOG_LEVEL: 'warn',
  };
  const config = loadConfig({ ...process.env, ...env });
  const db = await createDataSource(databaseUrl, 4).initialize();
  await migrate(db);
  const kafka = createKafka(config.kafka, logger, 'bench');
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, allTopics(config.topics), partitions, 1);
  await admin.disconnect();
  const codec = new AvroCodec(config.schemaRegistryUrl);
  return {
    config,
    env,
    db,
    codec,
    close: async () => {
      await db.destroy();
      await dropDatabase(databaseUrl);
    },
  };
}

const person = (id: string): Person => ({ id, name: `Person ${id}`, email: `${id}@bench.example.com`, locale: null });

function requestsFor(count: number): CardOperationRequest[] {
  const approvers = [person('approver-a'), person('approver-b')];
  return Array.from({ length: count }, (_, i) => {
    const operation = OPERATIONS[i % OPERATIONS.length]!;
    const card = (n: number): CardOperationRequest['cards'][number] => ({
      cardId: `card-${i}-${n}`,
      cardType: 'EMPLOYEE_BADGE',
      serialNumber: `SN-${i}-${n}`,
      holder: person(`holder-${i}-${n}`),
      status: 'ACTIVE',
      validTo: Date.UTC(2028, 0, 1),
    });
    return {
      requestId: `bench-${i}-${randomUUID().slice(0, 8)}`,
      operation,
      requestedAt: Date.now(),
      requester: person(`requester-${i}`),
      cards: operation === 'REQUEST_MULTIPLE_CARDS' ? [card(1), card(2), card(3)] : [card(1)],
      description: `Benchmark ${operation.toLowerCase()} for a new employee wave, request ${i}`,
      approvers,
      attributes: { source: 'bench', costCenter: `CC-${i % 97}` },
    };
  });
}

async function produceRequests(config: Config, codec: AvroCodec, requests: CardOperationRequest[]): Promise<void> {
  const producer = createProducer(createKafka(config.kafka, logger, 'bench-producer'));
  await producer.connect();
  const ids = new Map<string, number>();
  for (const topic of Object.values(config.topics.requests)) ids.set(topic, await codec.register(`${topic}-value`, 'card-operation-request'));
  for (let i = 0; i < requests.length; i += 1000) {
    const slice = requests.slice(i, i + 1000);
    const byTopic = new Map<string, Array<{ key: string; value: Buffer }>>();
    for (const r of slice) {
      const topic = config.topics.requests[r.operation];
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), { key: r.requestId, value: await codec.encode(ids.get(topic)!, r) }]);
    }
    await producer.sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
  }
  await producer.disconnect();
}

/** The worker as a process, with its CPU time and peak RSS read from /proc. */
function startWorkerProcess(env: Record<string, string>): { stop: () => Promise<{ cpuSeconds: number; peakRssMb: number }>; usage: () => { cpuSeconds: number; peakRssMb: number } } {
  // --profile writes the worker's CPU profile to bench-results/ when it exits.
  const profile = process.argv.includes('--profile') ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ROOT, 'bench-results')}`] : [];
  const child = spawn(process.execPath, [...profile, ...WORKER_ARGS], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const ticks = 100; // USER_HZ on Linux
  const usage = (): { cpuSeconds: number; peakRssMb: number } => {
    const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSeconds: (Number(stat[11]) + Number(stat[12])) / ticks, peakRssMb: Math.round(hwm / 1024) };
  };
  return {
    usage,
    stop: async () => {
      const last = usage();
      child.kill('SIGTERM');
      await exited;
      return last;
    },
  };
}

/** Baseline: consume, decode, insert one row each in batches, commit, produce one event each. */
async function baseline(config: Config, codec: AvroCodec, db: DataSource, count: number): Promise<number> {
  await db.query('CREATE TABLE IF NOT EXISTS baseline_rows (request_id text PRIMARY KEY, body jsonb NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())');
  const kafka = createKafka(config.kafka, logger, 'bench-baseline');
  const producer = createProducer(kafka);
  await producer.connect();
  const eventSchema = await codec.register(`${config.topics.events}-value`, 'approval-event');
  const consumer = kafka.consumer({ groupId: `baseline-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topics: Object.values(config.topics.requests), fromBeginning: true });
  let done = 0;
  let began = 0;
  const finished = new Promise<number>((resolve) => {
    void consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 3,
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
            const event: ApprovalEvent = { eventId: r.requestId, type: 'OPENED', requestId: r.requestId, operation: r.operation, status: 'PENDING', occurredAt: now, requester: r.requester, cards: r.cards, description: r.description, approvers: r.approvers, decision: null, refusalCode: null, message: null };
            return { key: r.requestId, value: await codec.encode(eventSchema, event) };
          }),
        );
        await producer.send({ topic: `${config.topics.events}`, acks: -1, messages: events });
        const last = batch.messages[batch.messages.length - 1]!.offset;
        resolveOffset(last);
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
        done += batch.messages.length;
        if (done >= count) resolve((Date.now() - began) / 1000);
      },
    });
  });
  const seconds = await finished;
  await consumer.disconnect();
  await producer.disconnect();
  return count / seconds;
}

async function main(): Promise<void> {
  const count = opt('requests', 20_000);
  const partitions = opt('partitions', 4);
  const rate = opt('rate', 500);
  const latencySeconds = opt('latency-seconds', 10);
  const config0 = loadConfig({ ...process.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/card_approvals_test' });
  await stackUp(config0);
  console.log(`building…`);
  await ensureBuilt();
  const { config, env, db, codec, close } = await setup(partitions);
  try {
    const requests = requestsFor(count);
    console.log(`producing ${count} requests on ${partitions} partition(s)…`);
    await produceRequests(config, codec, requests);

    // Limit first: the same messages, the same broker and database.
    const baselineRate = await baseline(config, codec, db, count);
    console.log(`baseline: ${baselineRate.toFixed(0)} requests/s`);

    // Intake: the worker opens every record (events and approver emails go to the outboxes).
    const worker = startWorkerProcess(env);
    await pollUntil('all records', async () => (await db.query('SELECT count(*)::int AS n FROM approval_requests'))[0].n >= count);
    const [span] = await db.query(`SELECT extract(epoch FROM max(opened_at) - min(opened_at))::float8 AS s FROM approval_requests`);
    const intakeRate = count / Math.max(0.001, span.s);
    const afterIntake = worker.usage();
    console.log(`intake: ${intakeRate.toFixed(0)} requests/s`);
    await pollUntil('events published', async () => (await db.query('SELECT count(*)::int AS n FROM approval_events WHERE published_at IS NULL'))[0].n === 0);

    // Decisions at saturation: 80% approved, 15% rejected, 5% postponed then approved.
    const decisionSchema = await codec.register(`${config.topics.decisions}-value`, 'approval-decision');
    const kafka = createKafka(config.kafka, logger, 'bench-decisions');
    const producer = createProducer(kafka);
    await producer.connect();
    const decisionsFor = (r: CardOperationRequest, i: number): ApprovalDecision[] => {
      const d = (decision: ApprovalDecision['decision'], n: number): ApprovalDecision => ({
        decisionId: `${r.requestId}-d${n}`,
        requestId: r.requestId,
        decision,
        approver: r.approvers[n % 2]!,
        reason: decision === 'REJECTED' ? 'not this time' : null,
        decidedAt: Date.now(),
      });
      const roll = i % 20;
      return roll < 16 ? [d('APPROVED', 0)] : roll < 19 ? [d('REJECTED', 0)] : [d('POSTPONED', 0), d('APPROVED', 1)];
    };
    const saturation = requests.slice(0, Math.floor(count / 2));
    const allDecisions = saturation.flatMap(decisionsFor);
    for (let i = 0; i < allDecisions.length; i += 1000) {
      const messages = await Promise.all(allDecisions.slice(i, i + 1000).map(async (d) => ({ key: d.requestId, value: await codec.encode(decisionSchema, d) })));
      await producer.send({ topic: config.topics.decisions, messages });
    }
    await pollUntil('decisions applied', async () => (await db.query(`SELECT count(*)::int AS n FROM approval_decisions`))[0].n >= allDecisions.length);
    const [dspan] = await db.query(`SELECT extract(epoch FROM max(received_at) - min(received_at))::float8 AS s FROM approval_decisions`);
    const decisionRate = allDecisions.length / Math.max(0.001, dspan.s);
    console.log(`decisions at saturation: ${decisionRate.toFixed(0)} decisions/s`);
    await pollUntil('events published', async () => (await db.query('SELECT count(*)::int AS n FROM approval_events WHERE published_at IS NULL'))[0].n === 0);

    // Emails: the approver and requester emails so far, delivered to the local SMTP server. The
    // backlog is drained first so it does not compete with the latency phase for the two cores.
    await pollUntil('emails sent', async () => (await db.query(`SELECT count(*)::int AS n FROM email_outbox WHERE status = 'PENDING'`))[0].n === 0);
    const [espan] = await db.query(`SELECT count(*)::int AS n, extract(epoch FROM max(sent_at) - min(sent_at))::float8 AS s FROM email_outbox WHERE status = 'SENT'`);
    const emailRate = espan.n / Math.max(0.001, espan.s);
    console.log(`emails: ${emailRate.toFixed(0)}/s`);

    // Latency at a fixed offered rate: decision produced → its event readable on the events topic.
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const observer = kafka.consumer({ groupId: `bench-observer-${randomUUID()}` });
    await observer.connect();
    await observer.subscribe({ topic: config.topics.events, fromBeginning: false });
    await observer.run({
      // No offset commits: kafkajs would otherwise commit after every batch, and that round trip
      // would delay the next fetch and count as the worker's latency.
      autoCommit: false,
      eachMessage: async ({ message }) => {
        const event = await codec.decode<ApprovalEvent>(message.value, 'approval-event');
        const sent = event.decision ? sentAt.get(event.decision.decisionId) : undefined;
        if (sent !== undefined) latencies.push(Date.now() - sent);
      },
    });
    await sleep(3000); // the observer joins and starts at the end of the topic
    const paced = requests.slice(Math.floor(count / 2)).slice(0, rate * latencySeconds);
    const tickMs = 20;
    const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
    for (let i = 0; i < paced.length; i += perTick) {
      const tickStart = Date.now();
      const slice = paced.slice(i, i + perTick).map((r) => decisionsFor(r, 0)[0]!);
      const messages = await Promise.all(slice.map(async (d) => ({ key: d.requestId, value: await codec.encode(decisionSchema, d) })));
      const now = Date.now();
      for (const d of slice) sentAt.set(d.decisionId, now);
      await producer.send({ topic: config.topics.decisions, messages });
      await sleep(Math.max(0, tickMs - (Date.now() - tickStart)));
    }
    await pollUntil('latency samples', async () => latencies.length >= paced.length, 60_000).catch(() => undefined);
    await observer.disconnect();
    await producer.disconnect();
    latencies.sort((a, b) => a - b);

    const final = await worker.stop();

    const result = {
      machine: { cores: os.cpus().length, memoryGb: Math.round(os.totalmem() / 2 ** 30) },
      requests: count,
      partitions,
      instances: 1,
      intakePerSecond: Math.round(intakeRate),
      baselinePerSecond: Math.round(baselineRate),
      intakeToBaseline: Number((intakeRate / baselineRate).toFixed(2)),
      decisionsPerSecond: Math.round(decisionRate),
      latencyMs: { offeredPerSecond: rate, samples: latencies.length, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] },
      emailsPerSecond: Math.round(emailRate),
      cpuSecondsPer1000Requests: Number(((afterIntake.cpuSeconds / count) * 1000).toFixed(2)),
      peakRssMb: final.peakRssMb,
    };
    const rows: Array<[string, string, string]> = [
      ['intake (requests/s)', String(result.intakePerSecond), `baseline ${result.baselinePerSecond} → ratio ${result.intakeToBaseline} (target ≥ 5000 and ≥ 0.7)`],
      ['decisions at saturation (/s)', String(result.decisionsPerSecond), ''],
      [`decision→event latency @${rate}/s`, `p50 ${result.latencyMs.p50} / p95 ${result.latencyMs.p95} / p99 ${result.latencyMs.p99} / max ${result.latencyMs.max} ms`, `${latencies.length} samples (target p99 ≤ 50 ms)`],
      ['emails delivered (/s)', String(result.emailsPerSecond), 'to the local SMTP server'],
      ['worker CPU s per 1000 requests (intake)', String(result.cpuSecondsPer1000Requests), ''],
      ['worker peak RSS (MB)', String(result.peakRssMb), 'target ≤ 250'],
    ];
    console.log(`\n${result.machine.cores} cores, ${count} requests, ${partitions} partitions, 1 worker\n`);
    console.log('| measure | worker | limit / note |\n|---|---|---|');
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
    const dir = path.join(ROOT, 'bench-results');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(file, JSON.stringify(result, null, 2));
    console.log(`\nwritten ${path.relative(ROOT, file)}`);
  } finally {
    // --keep-db leaves the run's database for diagnosis (the timings of every row are in it).
    if (process.argv.includes('--keep-db')) console.log(`kept ${env.DATABASE_URL}`);
    else await close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
