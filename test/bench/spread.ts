// The ratio table of several bench runs, with their spread: each worker measure over its baseline
// from the same run, then the mean and the range across runs.
//
//   npx ts-node --transpile-only test/bench/spread.ts bench-results/<run>.json [...]
import fs from 'node:fs';
import type { CpuPerUnit } from './process-cpu';

interface Run {
  main: {
    intakeToBaseline: number;
    /** Runs from before the same-effects row have neither. */
    intakeToSameEffects?: number;
    sameEffectsPerSecond?: number;
    decisionsToBaseline: number;
    latencyP99ToBaseline: number;
    emailsToBaseline: number;
    intakePerSecond: number;
    baselinePerSecond: number;
    decisionsPerSecond: number;
    decisionsBaselinePerSecond: number;
    latencyMs: { p50: number; p95: number; p99: number };
    latencyBaselineMs: { p50: number; p95: number; p99: number };
    emailsPerSecond: number;
    emailsBaselinePerSecond: number;
    /** Runs from before it have none. */
    cpuMsPerRequest?: { worker: CpuPerUnit; sameEffects: CpuPerUnit };
  };
  matrix: Array<{ partitions: number; instances: number; intake: number[]; baseline: number[] }>;
  stored?: { intakeToBaseline: number; loss: number };
  minutes: number;
}

const runs: Run[] = process.argv.slice(2).map((file) => JSON.parse(fs.readFileSync(file, 'utf8')) as Run);
if (runs.length === 0) throw new Error('give the JSON files of the runs');

const round = (value: number): number => Number(value.toFixed(2));
const row = (label: string, values: number[], target: string, met: (v: number) => boolean): string => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const verdict = values.every(met) ? 'met in every run' : values.some(met) ? 'met in some runs' : '**not met**';
  return `| ${label} | ${values.map(round).join(', ')} | ${round(mean)} (${round(Math.min(...values))}–${round(Math.max(...values))}) | ${target}: ${verdict} |`;
};

const lines = [
  `| worker / baseline | each run | mean (range) | target |`,
  `|---|---|---|---|`,
  row('intake (4 partitions, 1 worker)', runs.map((r) => r.main.intakeToBaseline), '≥ 0.7', (v) => v >= 0.7),
  ...(runs.some((r) => r.main.intakeToSameEffects !== undefined)
    ? [row('intake / same-effects raw SQL', runs.flatMap((r) => r.main.intakeToSameEffects ?? []), '≥ 0.8', (v) => v >= 0.8)]
    : []),
  row('decisions at saturation', runs.map((r) => r.main.decisionsToBaseline), '≥ 0.7', (v) => v >= 0.7),
  row('decision→event p99 @500/s', runs.map((r) => r.main.latencyP99ToBaseline), '≤ 2', (v) => v <= 2),
  row('emails delivered', runs.map((r) => r.main.emailsToBaseline), '≥ 0.7', (v) => v >= 0.7),
];
for (const partitions of [...new Set(runs.flatMap((r) => r.matrix.map((c) => c.partitions)))]) {
  const cell = (r: Run) => r.matrix.find((c) => c.partitions === partitions && c.instances === 1)!;
  lines.push(row(`intake, matrix: ${partitions} partition(s), 1 worker`, runs.map((r) => cell(r).intake.reduce((a, b) => a + b) / cell(r).baseline.reduce((a, b) => a + b)), '≥ 0.7', (v) => v >= 0.7));
}
const stored = runs.filter((r) => r.stored);
if (stored.length) {
  lines.push(row('intake loss with 1,000,000 stored (against the same run\'s intake into fresh databases)', stored.map((r) => r.stored!.loss), '≤ 0.05', (v) => v <= 0.05));
}
lines.push('', '| absolute figures | each run |', '|---|---|');
const each = (f: (r: Run) => string): string => runs.map(f).join('; ');
lines.push(`| intake / baseline (/s) | ${each((r) => `${r.main.intakePerSecond} / ${r.main.baselinePerSecond}`)} |`);
if (runs.some((r) => r.main.sameEffectsPerSecond !== undefined)) lines.push(`| intake / same effects in raw SQL (/s) | ${each((r) => `${r.main.intakePerSecond} / ${r.main.sameEffectsPerSecond ?? '–'}`)} |`);
if (runs.some((r) => r.main.cpuMsPerRequest)) {
  const cpu = (c: CpuPerUnit | undefined): string => (c ? `${c.process} + ${c.postgres}` : '–');
  lines.push(`| CPU ms per request in intake, the process + Postgres (/request) | ${each((r) => `worker ${cpu(r.main.cpuMsPerRequest?.worker)}, raw SQL ${cpu(r.main.cpuMsPerRequest?.sameEffects)}`)} |`);
}
lines.push(`| decisions / baseline (/s) | ${each((r) => `${r.main.decisionsPerSecond} / ${r.main.decisionsBaselinePerSecond}`)} |`);
lines.push(`| latency p50 / p95 / p99, worker (ms) | ${each((r) => `${r.main.latencyMs.p50} / ${r.main.latencyMs.p95} / ${r.main.latencyMs.p99}`)} |`);
lines.push(`| latency p50 / p95 / p99, baseline (ms) | ${each((r) => `${r.main.latencyBaselineMs.p50} / ${r.main.latencyBaselineMs.p95} / ${r.main.latencyBaselineMs.p99}`)} |`);
lines.push(`| emails / nodemailer alone (/s) | ${each((r) => `${r.main.emailsPerSecond} / ${r.main.emailsBaselinePerSecond}`)} |`);
lines.push(`| bench wall time (min) | ${each((r) => String(r.minutes))} |`);
console.log(lines.join('\n'));
