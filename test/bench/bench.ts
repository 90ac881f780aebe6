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
//   --smoke              a tiny run of every phase (what `npm test` runs)
//   --keep-db, --profile
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { decisionPublisher } from '../../src/adapters/kafka/decision-publisher';
import { createKafka, createProducer, createWatcher } from '../../src/adapters/kafka/kafka-client';
import { stackUp } from '../stack/local-stack';
import { mintLocalToken } from '../../src/entry-points/http/auth';
import type { ApprovalEvent } from '../../src/domain/approval';
import type { ApprovalDecision, CardOperationRequest } from '../../src/domain/card-operation';
import { loadConfig } from '../../src/libraries/config';
import { ROOT, ensureBuilt } from '../support/build';
import { freePort } from '../support/ports';
import { decisionsFor } from '../support/builders';
import {
  baseline, count, dropTopics, freshDatabase, rateOf, freshTopics, logger, measureIntake, percentile, waitUntil, produceRequests, requestsFor, sleep, startWorkers,
  type TopicsRun,
} from './bench-run';
import { renderChart } from './chart';
import { SEED_SQL } from './seed';

const smoke = process.argv.includes('--smoke');
const opt = (name: string, fallback: number, smokeValue = fallback): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : smoke ? smokeValue : fallback;
};
const options = {
  requests: opt('requests', 10_000, 100),
  partitions: opt('partitions', 4),
  instances: opt('instances', 1),
  rate: opt('rate', 500, 50),
  latencySeconds: opt('latency-seconds', 10, 1),
  matrixRequests: opt('matrix-requests', 10_000, 40),
  runs: opt('runs', 2, 1),
  stored: opt('stored', 1_000_000, 500),
};
const AUTH_SECRET = 'bench-secret-long-enough-0123456789abcdef';
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
  await waitUntil('worker HTTP', async () => (await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => undefined))?.ok === true, 60_000);
}

/** The main run: intake, decisions at saturation, emails, latency at a fixed rate, API latency. */
async function mainRun() {
  const { requests: n, partitions, instances, rate, latencySeconds } = options;
  step(`main run: ${n} requests, ${partitions} partitions, ${instances} worker(s)`);
  const run = await freshTopics(partitions);
  const database = await freshDatabase();
  const { db } = database;
  try {
    const requests = requestsFor(n);
    await produceRequests(run, requests);
    const baselineRate = await baseline(run, db, n);
    step(`baseline ${baselineRate.toFixed(0)}/s`);

    const httpPort = await freePort();
    const workers = startWorkers(run, database.url, instances, { HTTP_PORT: String(httpPort), AUTH_SECRET });
    const intakeRate = await measureIntake(db, n);
    const afterIntake = workers.map((w) => w.usage());
    step(`intake ${intakeRate.toFixed(0)}/s`);
    await waitUntil('events published', async () => (await count(db, 'SELECT count(*)::int AS n FROM approval_events WHERE published_at IS NULL')) === 0);

    const { config, codec } = run;
    const kafka = createKafka(config.kafka, logger, 'bench-decisions');
    const producer = createProducer(kafka);
    await producer.connect();
    const publishDecisions = decisionPublisher({ codec, producer, topic: config.topics.decisions });
    const saturation = requests.slice(0, Math.floor(n / 2)).flatMap((r, i) => decisionsFor(r, i));
    for (let i = 0; i < saturation.length; i += 1000) {
      await publishDecisions(...saturation.slice(i, i + 1000));
    }
    await waitUntil('decisions applied', async () => (await count(db, 'SELECT count(*)::int AS n FROM approval_decisions')) >= saturation.length);
    const decisionRate = await rateOf(db, 'SELECT received_at AS at FROM approval_decisions');
    step(`decisions at saturation ${decisionRate.toFixed(0)}/s`);

    // The email backlog is drained before the latency phase so that it does not compete with it.
    await waitUntil('emails sent', async () => (await count(db, `SELECT count(*)::int AS n FROM email_outbox WHERE status = 'PENDING'`)) === 0);
    const emailRate = await rateOf(db, `SELECT sent_at AS at FROM email_outbox WHERE status = 'SENT'`);
    step(`emails ${emailRate.toFixed(0)}/s`);

    // Decision produced → its event read from the events topic, at a fixed offered rate.
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const observer = createWatcher(kafka, `bench-observer-${randomUUID()}`);
    await observer.connect();
    await observer.subscribe({ topic: config.topics.events, fromBeginning: false });
    // The observer starts at the end of the topic once it has joined and fetched for the first time.
    const fetching = new Promise((resolve) => observer.on(observer.events.FETCH, resolve));
    await observer.run({
      // No offset commits: kafkajs would commit after every batch, and that round trip would
      // delay the next fetch and count as the worker's latency.
      autoCommit: false,
      eachMessage: async ({ message }) => {
        const event = await codec.decode<ApprovalEvent>(message.value, 'approval-event');
        const sent = event.decision ? sentAt.get(event.decision.decisionId) : undefined;
        if (sent !== undefined) latencies.push(Date.now() - sent);
      },
    });
    await fetching;
    const paced = requests.slice(Math.floor(n / 2)).slice(0, rate * latencySeconds);
    const tickMs = 20;
    const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
    for (let i = 0; i < paced.length; i += perTick) {
      const tickStart = Date.now();
      const slice = paced.slice(i, i + perTick).map((r) => decisionsFor(r, 0)[0]!);
      const now = Date.now();
      for (const d of slice) sentAt.set(d.decisionId, now);
      await publishDecisions(...slice);
      await sleep(Math.max(0, tickMs - (Date.now() - tickStart)));
    }
    await waitUntil('latency samples', async () => latencies.length >= paced.length, 60_000).catch(() => undefined);
    await observer.disconnect();
    await producer.disconnect();
    latencies.sort((a, b) => a - b);
    step(`latency p99 ${percentile(latencies, 99)} ms`);

    await waitForHttp(httpPort);
    const api = await apiLatency(httpPort, { requestId: requests[7]!.requestId, serial: requests[7]!.cards[0]!.serialNumber ?? requests[7]!.requestId });
    const final = await Promise.all(workers.map((w) => w.stop()));
    const cpu = afterIntake.reduce((sum, u) => sum + u.cpuSeconds, 0);
    return {
      requests: n,
      partitions,
      instances,
      intakePerSecond: Math.round(intakeRate),
      baselinePerSecond: Math.round(baselineRate),
      intakeToBaseline: Number((intakeRate / baselineRate).toFixed(2)),
      decisionsPerSecond: Math.round(decisionRate),
      latencyMs: { offeredPerSecond: rate, samples: latencies.length, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] },
      emailsPerSecond: Math.round(emailRate),
      cpuSecondsPer1000Requests: Number(((cpu / n) * 1000).toFixed(2)),
      peakRssMb: Math.max(...final.map((u) => u.peakRssMb)),
      api,
    };
  } finally {
    await database.drop();
  }
}

type Database = Awaited<ReturnType<typeof freshDatabase>>;

/** Intake of `n` pre-produced requests by `instances` workers into `database` (default: a fresh one). */
async function intakeInto(run: TopicsRun, n: number, instances: number, database?: Database): Promise<number> {
  const target = database ?? (await freshDatabase());
  try {
    const workers = startWorkers(run, target.url, instances);
    const rate = await measureIntake(target.db, n);
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

/** Intake and API latency with `stored` records already in the database. */
async function storedRun() {
  const database = await freshDatabase();
  try {
    const started = Date.now();
    await database.db.query(SEED_SQL, [options.stored]);
    await database.db.query('ANALYZE');
    const seedSeconds = (Date.now() - started) / 1000;
    step(`seeded ${options.stored} records in ${seedSeconds.toFixed(0)} s`);
    const run = await freshTopics(4);
    const requests = requestsFor(options.requests);
    await produceRequests(run, requests);
    const intake = await intakeInto(run, requests.length, 1, database);
    step(`intake with ${options.stored} stored: ${intake.toFixed(0)}/s`);
    const httpPort = await freePort();
    const [worker] = startWorkers(run, database.url, 1, { HTTP_PORT: String(httpPort), AUTH_SECRET });
    await waitForHttp(httpPort);
    const sample = Math.ceil(options.stored * 0.777);
    const api = await apiLatency(httpPort, { requestId: `seed-${sample}`, serial: `SN-${sample}` });
    await worker!.stop();
    return { storedRecords: options.stored, seedSeconds: Math.round(seedSeconds), requests: requests.length, intakePerSecond: Math.round(intake), api };
  } finally {
    await database.drop();
  }
}

const mean = (values: number[]): number => Math.round(values.reduce((a, b) => a + b, 0) / values.length);
const spread = (values: number[]): string =>
  values.length > 1 ? `${mean(values)} (${Math.min(...values)}–${Math.max(...values)})` : String(values[0]);

async function main(): Promise<void> {
  const began = Date.now();
  const stackConfig = loadConfig({ ...process.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/card_approvals_test' });
  await stackUp(stackConfig);
  // MailDev keeps every message in memory: an inbox full of earlier runs slows it down. The smoke
  // run leaves it alone, as tests beside it read the inbox.
  const emptyInbox = (): Promise<unknown> => (smoke ? Promise.resolve() : fetch(`${stackConfig.inboxUrl}/api/email/all`, { method: 'DELETE' }).catch(() => undefined));
  await emptyInbox();
  step('building');
  await ensureBuilt();

  const main = await mainRun();
  const matrix = options.matrixRequests > 0 ? await scalingMatrix() : [];
  const stored = options.stored > 0 ? await storedRun() : undefined;
  await emptyInbox();
  await dropTopics();

  const machine = { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(os.totalmem() / 2 ** 30) };
  const result = { date: new Date().toISOString(), machine, options, minutes: Number(((Date.now() - began) / 60_000).toFixed(1)), main, matrix, stored };

  const lines: string[] = [];
  const out = (line = ''): void => void lines.push(line);
  out(`\n${machine.cores} cores (${machine.cpu}), ${machine.memoryGb} GiB; broker, registry, SMTP, database and workers all on this machine`);
  out(`\nMain run: ${main.requests} requests, ${main.partitions} partitions, ${main.instances} worker(s)\n`);
  out('| measure | worker | limit / target |\n|---|---|---|');
  out(`| intake (requests/s) | ${main.intakePerSecond} | baseline ${main.baselinePerSecond} → ratio ${main.intakeToBaseline} (target ≥ 5000 and ≥ 0.7) |`);
  out(`| decisions at saturation (/s) | ${main.decisionsPerSecond} | |`);
  out(`| decision→event latency @${main.latencyMs.offeredPerSecond}/s (ms) | p50 ${main.latencyMs.p50} / p95 ${main.latencyMs.p95} / p99 ${main.latencyMs.p99} / max ${main.latencyMs.max} | ${main.latencyMs.samples} samples (target p99 ≤ 50) |`);
  out(`| emails delivered (/s) | ${main.emailsPerSecond} | to the local SMTP server |`);
  out(`| worker CPU s per 1000 requests (intake) | ${main.cpuSecondsPer1000Requests} | |`);
  out(`| worker peak RSS (MB) | ${main.peakRssMb} | target ≤ 250 |`);
  if (matrix.length) {
    out(`\nScaling: intake of ${options.matrixRequests} requests, mean (min–max) of ${options.runs} run(s)\n`);
    out('| partitions | baseline (/s) | 1 worker (/s) | ratio | 2 workers (/s) | ratio |\n|---|---|---|---|---|---|');
    for (const p of MATRIX_PARTITIONS) {
      const [one, two] = matrix.filter((c) => c.partitions === p);
      const ratio = (c: Cell): string => (c.intake.reduce((a, b) => a + b) / c.baseline.reduce((a, b) => a + b)).toFixed(2);
      out(`| ${p} | ${spread(one!.baseline)} | ${spread(one!.intake)} | ${ratio(one!)} | ${spread(two!.intake)} | ${ratio(two!)} |`);
    }
  }
  out(`\nAPI latency (ms, p50 / p95 of 20 calls)${stored ? `: ${main.requests} records stored vs ${stored.storedRecords}` : ''}\n`);
  out(`| query | ${main.requests} records |${stored ? ` ${stored.storedRecords} records |` : ''}\n|---|---|${stored ? '---|' : ''}`);
  main.api.forEach((a, i) => out(`| ${a.query} | ${a.p50} / ${a.p95} |${stored ? ` ${stored.api[i]!.p50} / ${stored.api[i]!.p95} |` : ''}`));
  if (stored) out(`\nIntake with ${stored.storedRecords} records stored (seeded in ${stored.seedSeconds} s): ${stored.intakePerSecond}/s for ${stored.requests} requests (4 partitions, 1 worker).`);
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
