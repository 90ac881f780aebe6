// `npm run bench`: throughput, latency and scaling of the worker against the real local stack,
// side by side with a baseline that does only the unavoidable work on the same broker and
// database in the same run. Prints tables and writes bench-results/<time>.json and .svg.
//
//   --requests N         requests in the main run (default 10000)
//   --partitions P       partitions in the main run (default 4)
//   --instances I        worker processes in the main run (default 1)
//   --rate R             decisions/s offered in the latency phase (default 500)
//   --latency-seconds S  length of the latency phase (default 10)
//   --matrix-requests M  requests per scaling cell (default 10000; 0 skips the matrix)
//   --runs K             runs per scaling cell, for the spread (default 2)
//   --stored S           records already stored for the large-database phase (default 1000000; 0 skips)
//   --quick              every phase at a smaller size (under 3 minutes), with the same ratios
//   --smoke              a tiny run of every phase (what `npm test` runs)
//   --retention          only intake and decisions into `stored` records with retention running and
//                        without, `runs` times each (default 3 here)
//   --split-relays       the main run's workers consume (ROLE=consumer) and one more process
//                        sends the emails (ROLE=relays)
//   --keep-db, --profile (the worker's CPU profile), --pg-profile (the database's time per
//   statement in each phase; needs pg_stat_statements preloaded)
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { EmailRenderer } from '../../src/adapters/email/render-email';
import { decisionPublisher } from '../../src/adapters/kafka/decision-publisher';
import { createKafka, createProducer, createWatcher } from '../../src/adapters/kafka/kafka-client';
import { stackUp } from '../stack/local-stack';
import { mintLocalToken } from '../../src/entry-points/http/auth';
import type { ApprovalEvent } from '../../src/domain/approval';
import type { ApprovalDecision } from '../../src/domain/card-operation';
import { loadConfig } from '../../src/libraries/config';
import { loadStackConfig } from '../stack/stack-config';
import { ROOT, ensureBuilt } from '../support/build';
import { freePort } from '../support/ports';
import { decisionsFor } from '../support/builders';
import {
  baseline, count, dropTopics, emailBaseline, forkHelper, freshDatabase, freshTopics, INTAKE_TABLES, logger, measureIntake, moreTopics, nextMessage, percentile, produceRequests, rateOf,
  requestsFor, rowCounts, rowDigests, sameEffects, seededDatabase, sleep, startSmtpSink, startWorkers, waitUntil, type SmtpSink, type TopicsRun,
} from './bench-run';
import { cpuBetween, perUnit, ProcessCpu, ROLES, type CpuSnapshot } from './process-cpu';
import { renderChart } from './chart';

const smoke = process.argv.includes('--smoke');
const quick = process.argv.includes('--quick');
/** An option's value: given on the command line, else its --smoke or --quick size, else the full run's. */
const opt = (name: string, full: number, sizes: { smoke?: number; quick?: number } = {}): number => {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0) return Number(process.argv[i + 1]);
  return (smoke ? sizes.smoke : quick ? sizes.quick : undefined) ?? full;
};
const options = {
  requests: opt('requests', 10_000, { smoke: 100, quick: 4000 }),
  partitions: opt('partitions', 4),
  instances: opt('instances', 1),
  rate: opt('rate', 500, { smoke: 50 }),
  latencySeconds: opt('latency-seconds', 10, { smoke: 1, quick: 5 }),
  matrixRequests: opt('matrix-requests', 10_000, { smoke: 40, quick: 4000 }),
  runs: opt('runs', process.argv.includes('--retention') ? 3 : 2, { smoke: 1, quick: 1 }),
  stored: opt('stored', 1_000_000, { smoke: 500, quick: 200_000 }),
};
const AUTH_SECRET = 'bench-secret-long-enough-0123456789abcdef';
/** What every worker the bench starts gets besides its run's topics: the counting SMTP sink, once it runs. */
const workerEnv: Record<string, string> = {};
const step = (text: string): void => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);


interface ApiLatency {
  query: string;
  p50: number;
  p95: number;
}

/** Latency of the API's searches as operators and approvers use them, 20 calls each. */
async function apiLatency(port: number, sample: { requestId: string; serial: string }): Promise<ApiLatency[]> {
  const auth = loadConfig({ ...process.env, AUTH_SECRET }).auth;
  const operator = await mintLocalToken(auth, { id: 'operator-1', name: 'Operator', email: 'operator@bench.example.com', roles: ['operator'] });
  const approver = await mintLocalToken(auth, { id: 'approver-7', name: 'Approver 7', email: 'approver-7@bench.example.com', roles: ['approver'] });
  const queries: Array<[string, string, string]> = [
    ['operator: newest page', '/api/requests?limit=20', operator],
    ['operator: pending lock-card requests', '/api/requests?status=PENDING&operation=LOCK_CARD', operator],
    ['operator: free text (a card serial)', `/api/requests?q=${encodeURIComponent(sample.serial)}`, operator],
    ['approver: requests they may see', '/api/requests', approver],
    ['approver: task list', '/api/tasks', approver],
    ['one request with its history', `/api/requests/${encodeURIComponent(sample.requestId)}`, operator],
  ];
  const results: ApiLatency[] = [];
  for (const [query, url, token] of queries) {
    const times: number[] = [];
    for (let i = 0; i < 21; i += 1) {
      const start = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}${url}`, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
      if (i > 0) times.push(performance.now() - start); // the first call warms caches
    }
    times.sort((a, b) => a - b);
    results.push({ query, p50: Number(percentile(times, 50).toFixed(1)), p95: Number(percentile(times, 95).toFixed(1)) });
  }
  return results;
}

async function waitForHttp(port: number): Promise<void> {
  // The port answers from the start; the API once the worker is up (readiness of the page and the API).
  await waitUntil('worker HTTP', async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined))?.ok === true, 60_000);
}

/** One phase of the main run: how long it took and the CPU each process spent in it. */
interface Phase {
  name: string;
  seconds: number;
  cpu: CpuSnapshot;
  /** With --pg-profile: the statements that took the database's time in this phase. */
  statements?: Statement[];
}

interface Statement {
  ms: number;
  /** Planning time, when pg_stat_statements.track_planning is on (else 0). */
  planMs: number;
  calls: number;
  rows: number;
  query: string;
}

/**
 * With --pg-profile, where the database's time goes in each phase, from pg_stat_statements
 * (which the server must preload: shared_preload_libraries = 'pg_stat_statements').
 */
async function statementProfile(db: Database['db']): Promise<{ reset: () => Promise<void>; top: (n: number) => Promise<Statement[]> }> {
  await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  return {
    reset: async () => void (await db.query('SELECT pg_stat_statements_reset()')),
    top: async (n) =>
      (
        await db.query(
          `SELECT round(total_exec_time)::int AS ms, round(total_plan_time)::int AS "planMs", calls::int, rows::int, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query
           FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time + total_plan_time DESC LIMIT $1`,
          [n],
        )
      ).map((r: Statement) => r),
  };
}

interface Latency {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /**
   * The same split at the event's occurredAt (when the batch that decided it began): until then
   * the decision was on its way in (produce, fetch, queueing before the batch); after it, the
   * batch's transaction, the publication and the observer's fetch. p50 and p99 of each.
   */
  split: { toBatch: [number, number]; fromBatch: [number, number] };
}

/**
 * Decision produced → its event read back from `eventsTopic`, for `decisions` offered at a fixed
 * rate to `decisionsTopic`. The observer reads without committing: kafkajs would commit after
 * every batch, and that round trip would delay its next fetch and count as latency.
 */
async function latencyOf(kafka: Kafka, codec: TopicsRun['codec'], publish: (topic: string, decisions: ApprovalDecision[]) => Promise<void>, decisionsTopic: string, eventsTopic: string, decisions: ApprovalDecision[]): Promise<Latency> {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const toBatch: number[] = [];
  const fromBatch: number[] = [];
  const observer = createWatcher(kafka, `bench-observer-${randomUUID()}`);
  await observer.connect();
  await observer.subscribe({ topic: eventsTopic, fromBeginning: false });
  // The observer starts at the end of the topic once it has joined and fetched for the first time.
  const fetching = new Promise((resolve) => observer.on(observer.events.FETCH, resolve));
  await observer.run({
    autoCommit: false,
    eachMessage: async ({ message }) => {
      const event = await codec.decode<ApprovalEvent>(message.value, 'approval-event');
      const sent = event.decision ? sentAt.get(event.decision.decisionId) : undefined;
      if (sent === undefined) return;
      const now = Date.now();
      latencies.push(now - sent);
      toBatch.push(event.occurredAt - sent);
      fromBatch.push(now - event.occurredAt);
    },
  });
  await fetching;
  const tickMs = 20;
  const perTick = Math.max(1, Math.round((options.rate * tickMs) / 1000));
  for (let i = 0; i < decisions.length; i += perTick) {
    const tickStart = Date.now();
    const slice = decisions.slice(i, i + perTick);
    for (const d of slice) sentAt.set(d.decisionId, tickStart);
    await publish(decisionsTopic, slice);
    await sleep(Math.max(0, tickMs - (Date.now() - tickStart)));
  }
  await waitUntil('latency samples', async () => latencies.length >= decisions.length, 60_000).catch(() => undefined);
  await observer.disconnect();
  for (const list of [latencies, toBatch, fromBatch]) list.sort((a, b) => a - b);
  const ends = (list: number[]): [number, number] => [percentile(list, 50), percentile(list, 99)];
  return {
    samples: latencies.length,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? NaN,
    split: { toBatch: ends(toBatch), fromBatch: ends(fromBatch) },
  };
}

const ratio = (worker: number, limit: number): number => Number((worker / limit).toFixed(2));

/**
 * The CPU a worker spends starting with nothing to do: on fresh topics and a fresh database, from
 * its start until it is ready and has waited through an idle fetch. Intake's CPU per request is
 * taken from the worker's start, so that its first batches count, less this.
 */
async function idleStartCpu(cpu: ProcessCpu): Promise<CpuSnapshot> {
  const run = await freshTopics(options.partitions);
  const database = await freshDatabase();
  try {
    const httpPort = await freePort();
    const before = cpu.snapshot();
    const [worker] = startWorkers(run, database.url, 1, { ...workerEnv, HTTP_PORT: String(httpPort), AUTH_SECRET });
    cpu.register(worker!.pid, 'worker');
    await waitForHttp(httpPort);
    await sleep(1500); // the consumer's first fetch waits up to 1 s on empty partitions
    const after = cpu.snapshot();
    await worker!.stop();
    return cpuBetween(before, after);
  } finally {
    await database.drop();
  }
}

/**
 * The main run. Each measure of the worker is taken beside its baseline, in the same run and on
 * the same broker and database: intake, decisions at saturation, emails, and decision→event
 * latency at a fixed offered rate. Every phase records the CPU each process spent in it.
 */
async function mainRun(sink: SmtpSink, cpu: ProcessCpu) {
  const { requests: n, partitions, instances, latencySeconds } = options;
  step(`main run: ${n} requests, ${partitions} partitions, ${instances} worker(s)`);
  const run = await freshTopics(partitions);
  const [baselineDecisions, baselineEvents] = await moreTopics(run, ['baseline.decisions', 'baseline.events'], partitions);
  const database = await freshDatabase();
  const { db } = database;
  const phases: Phase[] = [];
  const statements = process.argv.includes('--pg-profile') ? await statementProfile(db) : undefined;
  async function phase<T>(name: string, work: () => Promise<T>): Promise<T> {
    await statements?.reset();
    const before = cpu.snapshot();
    const began = Date.now();
    const value = await work();
    phases.push({ name, seconds: Number(((Date.now() - began) / 1000).toFixed(1)), cpu: cpuBetween(before, cpu.snapshot()), statements: await statements?.top(8) });
    return value;
  }
  try {
    const requests = requestsFor(n);
    await produceRequests(run, requests);
    const baselineRate = await phase('intake baseline', () => baseline(run, db, n));
    step(`intake baseline ${baselineRate.toFixed(0)}/s`);
    // The worker's rows written in raw SQL, into a database of their own.
    const raw = await freshDatabase();
    let sameEffectsRate: number;
    let sameEffectsRows: Awaited<ReturnType<typeof rowCounts>>;
    let sameEffectsDigests: Awaited<ReturnType<typeof rowDigests>>;
    try {
      sameEffectsRate = await phase('intake, same effects', () => sameEffects(run, raw.db, n));
      sameEffectsRows = await rowCounts(raw.db);
      sameEffectsDigests = await rowDigests(raw.db);
    } finally {
      await raw.drop();
    }
    step(`intake, same effects in raw SQL ${sameEffectsRate.toFixed(0)}/s`);

    const httpPort = await freePort();
    const workersStarting = cpu.snapshot();
    // --split-relays: the workers consume (ROLE=consumer) and one more process sends the emails (ROLE=relays).
    const split = process.argv.includes('--split-relays');
    const workers = [
      ...startWorkers(run, database.url, instances, { ...workerEnv, HTTP_PORT: String(httpPort), AUTH_SECRET, ...(split ? { ROLE: 'consumer' } : {}) }),
      ...(split ? startWorkers(run, database.url, 1, { ...workerEnv, HTTP_PORT: String(await freePort()), AUTH_SECRET, ROLE: 'relays' }) : []),
    ];
    for (const w of workers) cpu.register(w.pid, 'worker');
    // Start-up is not intake: the phase begins with the first record.
    await waitUntil('first record', async () => (await count(db, `SELECT count(*)::int AS n FROM approval_events WHERE type = 'OPENED'`)) > 0);
    const intakeRate = await phase('intake', () => measureIntake(db, n));
    // From the workers' start to the last record, with the emails sent by then (their CPU is taken off below).
    const intakeFromStart = cpuBetween(workersStarting, cpu.snapshot());
    const emailsDuringIntake = await count(db, `SELECT count(*)::int AS n FROM email_outbox WHERE sent_at IS NOT NULL`);
    step(`intake ${intakeRate.toFixed(0)}/s (${ratio(intakeRate, baselineRate)} of the baseline, ${ratio(intakeRate, sameEffectsRate)} of the same effects in raw SQL)`);
    await waitUntil('events published', async () => (await count(db, 'SELECT count(*)::int AS n FROM approval_events WHERE published_at IS NULL')) === 0);
    // The ratio compares the same database work only if both wrote the same rows for the same requests.
    const workerRows = await rowCounts(db);
    if (INTAKE_TABLES.some((t) => workerRows[t] !== sameEffectsRows[t])) {
      throw new Error(`intake, same effects: other rows than the worker's (worker ${JSON.stringify(workerRows)}, raw SQL ${JSON.stringify(sameEffectsRows)})`);
    }
    // As many rows is not the same rows: their columns too, but for times, generated keys and outbox states.
    const workerDigests = await rowDigests(db);
    const differing = INTAKE_TABLES.filter((t) => workerDigests[t] !== sameEffectsDigests[t]);
    if (differing.length) throw new Error(`intake, same effects: rows whose columns differ from the worker's in ${differing.join(', ')}`);
    step(`rows per request, worker and raw SQL alike (column by column): ${INTAKE_TABLES.map((t) => `${t} ${Number((workerRows[t] / n).toFixed(2))}`).join(', ')}`);

    // The email backlog left after intake, drained with nothing else running.
    let emailsInPhase = 0;
    const emailRate = await phase('emails', async () => {
      const from = (await db.query('SELECT now() AS at'))[0].at as Date;
      await waitUntil('emails sent', async () => (await count(db, `SELECT count(*)::int AS n FROM email_outbox WHERE status = 'PENDING'`)) === 0);
      const [r] = await db.query(`SELECT count(*)::int AS n, extract(epoch FROM max(sent_at) - $1)::float8 AS s FROM email_outbox WHERE sent_at > $1`, [from]);
      emailsInPhase = r.n;
      return r.s > 0 ? r.n / r.s : NaN;
    });
    const received = await sink.received();
    const [sample] = await db.query(`SELECT m.template, m.recipient, e.payload FROM email_outbox m JOIN approval_events e USING (event_id) ORDER BY m.id LIMIT 1`);
    const rendered = new EmailRenderer({ operatorUrl: 'http://127.0.0.1/approvals', defaultLocale: 'en', operationLocales: {}, timeZone: 'UTC' }).render(sample.template, sample.payload, sample.recipient);
    const emailLimit = await phase('email baseline', () => emailBaseline(sink.url, rendered, Math.min(received.count, smoke ? 100 : 5000), loadConfig(process.env).smtp.maxConnections));
    step(`emails ${emailRate.toFixed(0)}/s, baseline ${emailLimit.toFixed(0)}/s (${ratio(emailRate, emailLimit)}), ${Math.round(received.bytes / received.count)} bytes each`);

    const { config, codec } = run;
    const kafka = createKafka(config.kafka, logger, 'bench-decisions');
    const producer = createProducer(kafka);
    await producer.connect();
    const publishers = new Map<string, ReturnType<typeof decisionPublisher>>();
    const publish = (topic: string, decisions: ApprovalDecision[]): Promise<void> => {
      if (!publishers.has(topic)) publishers.set(topic, decisionPublisher({ codec, producer, topic }));
      return publishers.get(topic)!(...decisions);
    };
    const publishAll = async (topic: string, decisions: ApprovalDecision[]): Promise<void> => {
      for (let i = 0; i < decisions.length; i += 1000) await publish(topic, decisions.slice(i, i + 1000));
    };

    // The decisions baseline runs in its own process from here to the end of the latency phase.
    const limit = forkHelper('decision-baseline.ts', { BASELINE_DECISIONS: baselineDecisions!, BASELINE_EVENTS: baselineEvents!, BASELINE_DATABASE_URL: database.url });
    cpu.register(limit.pid, 'baseline');
    const stamps: Array<{ decisions: number; at: number }> = [];
    limit.on('message', (m: { decisions?: number; at: number }) => void (m.decisions !== undefined && stamps.push({ decisions: m.decisions, at: m.at })));
    await nextMessage(limit, (m: { ready?: boolean }) => m.ready);
    const processed = (): number => stamps.reduce((sum, s) => sum + s.decisions, 0);

    const saturation = requests.slice(0, Math.floor(n / 2)).flatMap((r, i) => decisionsFor(r, i));
    const decisionLimit = await phase('decisions baseline', async () => {
      await publishAll(baselineDecisions!, saturation);
      await waitUntil('baseline decisions', async () => processed() >= saturation.length);
      const first = stamps[0]!.at;
      const last = stamps[stamps.length - 1]!.at;
      return stamps.filter((s) => s.at > first).reduce((sum, s) => sum + s.decisions, 0) / ((last - first) / 1000);
    });
    stamps.length = 0;
    const decisionRate = await phase('decisions', async () => {
      await publishAll(config.topics.decisions, saturation);
      await waitUntil('decisions applied', async () => (await count(db, 'SELECT count(*)::int AS n FROM approval_decisions')) >= saturation.length);
      return rateOf(db, 'SELECT received_at AS at FROM approval_decisions');
    });
    step(`decisions at saturation ${decisionRate.toFixed(0)}/s, baseline ${decisionLimit.toFixed(0)}/s (${ratio(decisionRate, decisionLimit)})`);
    // The requester emails are drained before the latency phase so that they do not compete with it.
    await waitUntil('emails sent', async () => (await count(db, `SELECT count(*)::int AS n FROM email_outbox WHERE status = 'PENDING'`)) === 0);

    // The same rate and number of decisions, first through the baseline, then through the worker.
    const paced = requests.slice(Math.floor(n / 2)).slice(0, options.rate * latencySeconds);
    const [forBaseline, forWorker] = [0, 1].map((k) => paced.map((r) => ({ ...decisionsFor(r, 0)[0]!, decisionId: `${r.requestId}-latency-${k}` })));
    const latencyLimit = await phase('latency baseline', () => latencyOf(kafka, codec, publish, baselineDecisions!, baselineEvents!, forBaseline!));
    const latency = await phase('latency', () => latencyOf(kafka, codec, publish, config.topics.decisions, config.topics.events, forWorker!));
    limit.kill();
    await producer.disconnect();
    step(`latency p99 ${latency.p99} ms, baseline ${latencyLimit.p99} ms (${ratio(latency.p99, latencyLimit.p99)}×)`);

    await waitForHttp(httpPort);
    const api = await apiLatency(httpPort, { requestId: requests[7]!.requestId, serial: requests[7]!.cards[0]!.serialNumber ?? requests[7]!.requestId });
    const final = await Promise.all(workers.map((w) => w.stop()));
    const cpuOf = (name: string): CpuSnapshot => phases.find((p) => p.name === name)!.cpu;
    // Intake per request: from the workers' start, less an idle start and the emails sent meanwhile
    // (at the email phase's CPU per email); the raw-SQL row's whole phase.
    const idle = await idleStartCpu(cpu);
    const emails = cpuOf('emails');
    const intakeOnly = (role: 'worker' | 'postgres'): number =>
      intakeFromStart[role] - idle[role] * workers.length - (emailsInPhase > 0 ? (emailsDuringIntake * emails[role]) / emailsInPhase : 0);
    const cpuPerRequest = {
      worker: perUnit(intakeOnly('worker'), intakeOnly('postgres'), n),
      sameEffects: perUnit(cpuOf('intake, same effects').driver, cpuOf('intake, same effects').postgres, n),
      idleStartSeconds: { worker: idle.worker, postgres: idle.postgres },
      emailsDuringIntake,
    };
    return {
      requests: n,
      partitions,
      instances,
      intakePerSecond: Math.round(intakeRate),
      baselinePerSecond: Math.round(baselineRate),
      intakeToBaseline: ratio(intakeRate, baselineRate),
      sameEffectsPerSecond: Math.round(sameEffectsRate),
      intakeToSameEffects: ratio(intakeRate, sameEffectsRate),
      decisionsPerSecond: Math.round(decisionRate),
      decisionsBaselinePerSecond: Math.round(decisionLimit),
      decisionsToBaseline: ratio(decisionRate, decisionLimit),
      latencyMs: { offeredPerSecond: options.rate, ...latency },
      latencyBaselineMs: latencyLimit,
      latencyP99ToBaseline: ratio(latency.p99, latencyLimit.p99),
      emailsPerSecond: Math.round(emailRate),
      emailsBaselinePerSecond: Math.round(emailLimit),
      emailsToBaseline: ratio(emailRate, emailLimit),
      emailBytes: Math.round(received.bytes / received.count),
      cpuMsPerRequest: cpuPerRequest,
      peakRssMb: Math.max(...final.map((u) => u.peakRssMb)),
      phases,
      api,
    };
  } finally {
    await database.drop();
  }
}

type Database = Awaited<ReturnType<typeof freshDatabase>>;

/** Intake of `n` pre-produced requests by `instances` workers into `database` (default: a fresh one), counted from the first record it opens. */
async function intakeInto(run: TopicsRun, n: number, instances: number, database?: Database, extraEnv = workerEnv): Promise<number> {
  const target = database ?? (await freshDatabase());
  try {
    const since = (await target.db.query('SELECT now() AS at'))[0].at as Date;
    const workers = startWorkers(run, target.url, instances, extraEnv);
    const rate = await measureIntake(target.db, n, since);
    await Promise.all(workers.map((w) => w.stop()));
    return rate;
  } finally {
    if (!database) await target.drop();
  }
}

interface Cell {
  partitions: number;
  instances: number;
  intake: number[];
  baseline: number[];
}

/** The matrix's partition counts: 1, 2 and 4; the smoke run checks the phase with 2 only. */
const MATRIX_PARTITIONS = smoke ? [2] : [1, 2, 4];

/** The partition counts × 1 and 2 instances, each `runs` times; the baseline once per run. */
async function scalingMatrix(): Promise<Cell[]> {
  const cells: Cell[] = [];
  for (const partitions of MATRIX_PARTITIONS) {
    const row = [1, 2].map((instances) => ({ partitions, instances, intake: [] as number[], baseline: [] as number[] }));
    for (let r = 0; r < options.runs; r += 1) {
      const run = await freshTopics(partitions);
      await produceRequests(run, requestsFor(options.matrixRequests));
      const scratch = await freshDatabase();
      const limit = await baseline(run, scratch.db, options.matrixRequests).finally(() => scratch.drop());
      for (const cell of row) {
        cell.baseline.push(Math.round(limit));
        cell.intake.push(Math.round(await intakeInto(run, options.matrixRequests, cell.instances)));
      }
      step(`matrix ${partitions} partition(s), run ${r + 1}: baseline ${Math.round(limit)}/s, intake ${row.map((c) => `${c.instances} worker(s) ${c.intake[r]}/s`).join(', ')}`);
    }
    cells.push(...row);
  }
  return cells;
}

/**
 * Intake and API latency with `stored` records already in the database. The loss is taken
 * against the same run's intake into fresh databases with the same settings (4 partitions, one
 * worker): the worker's rate moves far less between phases than the baseline's does.
 */
async function storedRun(freshIntake: number[]) {
  const database = await seededDatabase(options.stored);
  try {
    const { seedSeconds } = database;
    step(`seeded ${options.stored} records in ${seedSeconds.toFixed(0)} s`);
    const run = await freshTopics(4);
    const requests = requestsFor(options.requests);
    await produceRequests(run, requests);
    const limit = await baseline(run, database.db, requests.length);
    const intake = await intakeInto(run, requests.length, 1, database);
    step(`intake with ${options.stored} stored: ${intake.toFixed(0)}/s, baseline ${limit.toFixed(0)}/s (${ratio(intake, limit)})`);
    const httpPort = await freePort();
    const [worker] = startWorkers(run, database.url, 1, { ...workerEnv, HTTP_PORT: String(httpPort), AUTH_SECRET });
    await waitForHttp(httpPort);
    const sample = Math.ceil(options.stored * 0.777);
    const api = await apiLatency(httpPort, { requestId: `seed-${sample}`, serial: `SN-${sample}` });
    await worker!.stop();
    const fresh = freshIntake.reduce((a, b) => a + b, 0) / freshIntake.length;
    return {
      storedRecords: options.stored,
      seedSeconds: Math.round(seedSeconds),
      requests: requests.length,
      intakePerSecond: Math.round(intake),
      baselinePerSecond: Math.round(limit),
      intakeToBaseline: ratio(intake, limit),
      freshIntakePerSecond: Math.round(fresh),
      loss: Number((1 - intake / fresh).toFixed(2)),
      api,
    };
  } finally {
    await database.drop();
  }
}

/**
 * What retention costs: intake and decisions at saturation into `stored` seeded records, with
 * retention running (every second, through the seed's backlog: the outbox rows of its older 40%
 * and the closed records of its oldest 14%, as a million seconds back would be with 7 and 10 days)
 * and without it, taking turns, `runs` times each.
 */
async function retentionComparison() {
  const span = options.stored; // the seed goes back one second a record
  const modes = {
    without: { OUTBOX_RETENTION: '3650d', CLOSED_APPROVAL_RETENTION: '3650d', DELEGATION_RETENTION: '3650d', RETENTION_INTERVAL: '7d' },
    with: { OUTBOX_RETENTION: `${Math.round(span * 0.6)}s`, CLOSED_APPROVAL_RETENTION: `${Math.round(span * 0.86)}s`, RETENTION_INTERVAL: '1s' },
  };
  const results = { without: [] as RetentionRun[], with: [] as RetentionRun[] };
  for (let r = 0; r < options.runs; r += 1) {
    for (const mode of ['without', 'with'] as const) {
      const database = await seededDatabase(options.stored);
      const { db } = database;
      try {
        const run = await freshTopics(4);
        const requests = requestsFor(options.requests);
        await produceRequests(run, requests);
        const seeded = ['approval_events WHERE request_id', 'email_outbox WHERE event_id', 'approval_requests WHERE request_id', 'approval_history WHERE request_id'];
        const rows = async (): Promise<number> => count(db, `SELECT (${seeded.map((t) => `(SELECT count(*) FROM ${t} LIKE 'seed-%')`).join(' + ')})::int AS n`);
        const before = await rows();
        const since = (await db.query('SELECT now() AS at'))[0].at as Date;
        const [worker] = startWorkers(run, database.url, 1, { ...workerEnv, ...modes[mode] });
        const intake = await measureIntake(db, requests.length, since);
        const kafka = createKafka(run.config.kafka, logger, 'bench-retention');
        const producer = createProducer(kafka);
        await producer.connect();
        const publish = decisionPublisher({ codec: run.codec, producer, topic: run.config.topics.decisions });
        const decisions = requests.flatMap((request, i) => decisionsFor(request, i));
        for (let i = 0; i < decisions.length; i += 1000) await publish(...decisions.slice(i, i + 1000));
        const applied = `FROM approval_decisions WHERE received_at >= '${since.toISOString()}'`;
        await waitUntil('decisions applied', async () => (await count(db, `SELECT count(*)::int AS n ${applied}`)) >= decisions.length);
        const decided = await rateOf(db, `SELECT received_at AS at ${applied}`);
        await producer.disconnect();
        const removed = before - (await rows());
        await worker!.stop();
        results[mode].push({ intake: Math.round(intake), decisions: Math.round(decided), removed });
        step(`retention ${mode}, run ${r + 1}: intake ${Math.round(intake)}/s, decisions ${Math.round(decided)}/s, ${removed} seeded rows removed meanwhile`);
      } finally {
        await database.drop();
      }
    }
  }
  return results;
}

interface RetentionRun {
  intake: number;
  decisions: number;
  /** Seeded rows (outbox, history, records) removed while intake and decisions ran. */
  removed: number;
}

const mean = (values: number[]): number => Math.round(values.reduce((a, b) => a + b, 0) / values.length);
const spread = (values: number[]): string =>
  values.length > 1 ? `${mean(values)} (${Math.min(...values)}–${Math.max(...values)})` : String(values[0]);

async function main(): Promise<void> {
  const began = Date.now();
  const stackConfig = loadStackConfig({ ...process.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/card_approvals_test' });
  await stackUp(stackConfig);
  // MailDev keeps every message in memory: an inbox full of earlier runs slows it down. The smoke
  // run leaves it alone, as tests beside it read the inbox.
  const emptyInbox = (): Promise<unknown> => (smoke ? Promise.resolve() : fetch(`${stackConfig.inboxUrl}/api/email/all`, { method: 'DELETE' }).catch(() => undefined));
  await emptyInbox();
  step('building');
  await ensureBuilt();

  const sink = await startSmtpSink();
  workerEnv.SMTP_URL = sink.url;
  if (process.argv.includes('--retention')) {
    const compared = await retentionComparison().finally(() => sink.stop());
    await dropTopics();
    const each = (runs: RetentionRun[], pick: (r: RetentionRun) => number): string => spread(runs.map(pick));
    console.log(`\nRetention: ${options.requests} requests then their decisions into ${options.stored} stored records (4 partitions, 1 worker), mean (min–max) of ${options.runs} run(s), taking turns\n`);
    console.log('| | intake (requests/s) | decisions (/s) | seeded rows removed meanwhile |\n|---|---|---|---|');
    for (const mode of ['without', 'with'] as const) console.log(`| retention ${mode === 'with' ? 'running' : 'off'} | ${each(compared[mode], (r) => r.intake)} | ${each(compared[mode], (r) => r.decisions)} | ${each(compared[mode], (r) => r.removed)} |`);
    return;
  }
  const cpu = new ProcessCpu();
  cpu.register(sink.pid, 'smtp sink');
  const main = await mainRun(sink, cpu).finally(() => sink.stop());
  const matrix = options.matrixRequests > 0 ? await scalingMatrix() : [];
  const freshIntake = [
    ...(main.partitions === 4 && main.instances === 1 ? [main.intakePerSecond] : []),
    ...matrix.filter((c) => c.partitions === 4 && c.instances === 1).flatMap((c) => c.intake),
  ];
  const stored = options.stored > 0 ? await storedRun(freshIntake.length ? freshIntake : [main.intakePerSecond]) : undefined;
  sink.stop();
  await emptyInbox();
  await dropTopics();

  const machine = { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(os.totalmem() / 2 ** 30) };
  const result = { date: new Date().toISOString(), machine, options, minutes: Number(((Date.now() - began) / 60_000).toFixed(1)), main, matrix, stored };

  const lines: string[] = [];
  const out = (line = ''): void => void lines.push(line);
  out(`\n${machine.cores} cores (${machine.cpu}), ${machine.memoryGb} GiB; broker, registry, SMTP, database and workers all on this machine`);
  out(`\nMain run: ${main.requests} requests, ${main.partitions} partitions, ${main.instances} worker(s). Each worker figure beside its baseline in the same run.\n`);
  const met = (ok: boolean): string => (ok ? 'met' : '**not met**');
  out('| measure | worker | baseline | worker / baseline | target |\n|---|---|---|---|---|');
  out(`| intake (requests/s) | ${main.intakePerSecond} | ${main.baselinePerSecond} | ${main.intakeToBaseline} | ≥ 0.7: ${met(main.intakeToBaseline >= 0.7)} |`);
  out(`| intake, same effects, raw SQL (requests/s) | ${main.intakePerSecond} | ${main.sameEffectsPerSecond} (the worker's rows in raw SQL) | ${main.intakeToSameEffects} | ≥ 0.8: ${met(main.intakeToSameEffects >= 0.8)} |`);
  out(`| decisions at saturation (/s) | ${main.decisionsPerSecond} | ${main.decisionsBaselinePerSecond} | ${main.decisionsToBaseline} | ≥ 0.7: ${met(main.decisionsToBaseline >= 0.7)} |`);
  const lat = (l: { p50: number; p95: number; p99: number }): string => `${l.p50} / ${l.p95} / ${l.p99}`;
  out(`| decision→event p50 / p95 / p99 @${main.latencyMs.offeredPerSecond}/s (ms) | ${lat(main.latencyMs)} | ${lat(main.latencyBaselineMs)} | ${main.latencyP99ToBaseline} (p99) | ≤ 2: ${met(main.latencyP99ToBaseline <= 2)} |`);
  out(`| emails delivered (/s) | ${main.emailsPerSecond} | ${main.emailsBaselinePerSecond} (nodemailer alone) | ${main.emailsToBaseline} | ≥ 0.7: ${met(main.emailsToBaseline >= 0.7)} |`);
  if (stored) {
    const lossText = stored.loss > 0 ? `${Math.round(stored.loss * 100)}% below` : `${Math.round(-stored.loss * 100)}% above`;
    out(`| intake with ${stored.storedRecords} stored (requests/s) | ${stored.intakePerSecond} | ${stored.baselinePerSecond} | ${stored.intakeToBaseline}; ${lossText} the same run's intake into fresh databases (${stored.freshIntakePerSecond}/s) | loss ≤ 5%: ${met(stored.loss <= 0.05)} |`);
  }
  const c = main.cpuMsPerRequest;
  out(`\nCPU ms per request in intake, the process and Postgres: worker ${c.worker.process} and ${c.worker.postgres}, same effects in raw SQL ${c.sameEffects.process} and ${c.sameEffects.postgres} (the worker's from its start, less an idle start of ${c.idleStartSeconds.worker} s and ${c.idleStartSeconds.postgres} s, and less the ${c.emailsDuringIntake} emails sent meanwhile at the email phase's CPU per email). Worker: peak RSS ${main.peakRssMb} MB (target ≤ 250). Latency samples: ${main.latencyMs.samples} and ${main.latencyBaselineMs.samples}; worker max ${main.latencyMs.max} ms. Split at the batch's start (p50 / p99, ms): worker ${main.latencyMs.split.toBatch.join(' / ')} until, ${main.latencyMs.split.fromBatch.join(' / ')} after; baseline ${main.latencyBaselineMs.split.toBatch.join(' / ')} until, ${main.latencyBaselineMs.split.fromBatch.join(' / ')} after. Emails of ${main.emailBytes} bytes to the counting SMTP sink.`);
  out('\nCPU seconds per process in each phase of the main run (the driver is this bench: producing, observing, polling)\n');
  out(`| phase | seconds | ${ROLES.join(' | ')} |\n|---|---|${ROLES.map(() => '---|').join('')}`);
  for (const p of main.phases) out(`| ${p.name} | ${p.seconds} | ${ROLES.map((r) => p.cpu[r]).join(' | ')} |`);
  for (const p of main.phases.filter((x) => x.statements)) {
    out(`\nDatabase time in ${p.name} (pg_stat_statements)\n\n| executing (ms) | planning (ms) | calls | rows | statement |\n|---|---|---|---|---|`);
    for (const st of p.statements!) out(`| ${st.ms} | ${st.planMs} | ${st.calls} | ${st.rows} | \`${st.query.replace(/\|/g, '¦')}\` |`);
  }
  if (matrix.length) {
    out(`\nScaling: intake of ${options.matrixRequests} requests, mean (min–max) of ${options.runs} run(s)\n`);
    out('| partitions | baseline (/s) | 1 worker (/s) | ratio (target ≥ 0.7) | 2 workers (/s) | ratio |\n|---|---|---|---|---|---|');
    for (const p of MATRIX_PARTITIONS) {
      const [one, two] = matrix.filter((c) => c.partitions === p);
      const ratio = (c: Cell): string => (c.intake.reduce((a, b) => a + b) / c.baseline.reduce((a, b) => a + b)).toFixed(2);
      out(`| ${p} | ${spread(one!.baseline)} | ${spread(one!.intake)} | ${ratio(one!)} | ${spread(two!.intake)} | ${ratio(two!)} |`);
    }
  }
  out(`\nAPI latency (ms, p50 / p95 of 20 calls)${stored ? `: ${main.requests} records stored vs ${stored.storedRecords}` : ''}\n`);
  out(`| query | ${main.requests} records |${stored ? ` ${stored.storedRecords} records |` : ''}\n|---|---|${stored ? '---|' : ''}`);
  main.api.forEach((a, i) => out(`| ${a.query} | ${a.p50} / ${a.p95} |${stored ? ` ${stored.api[i]!.p50} / ${stored.api[i]!.p95} |` : ''}`));
  if (stored) out(`\nIntake with ${stored.storedRecords} records stored (seeded in ${stored.seedSeconds} s): ${stored.intakePerSecond}/s for ${stored.requests} requests (4 partitions, 1 worker), baseline ${stored.baselinePerSecond}/s.`);
  out(`\nThe bench took ${result.minutes} min.`);
  console.log(lines.join('\n'));

  const dir = path.join(ROOT, 'bench-results');
  fs.mkdirSync(dir, { recursive: true });
  const base = path.join(dir, new Date().toISOString().replace(/[:.]/g, '-'));
  fs.writeFileSync(`${base}.json`, JSON.stringify(result, null, 2));
  fs.writeFileSync(`${base}.md`, lines.join('\n'));
  fs.writeFileSync(`${base}.svg`, renderChart(result));
  console.log(`\nwritten ${path.relative(ROOT, base)}.{json,md,svg}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
