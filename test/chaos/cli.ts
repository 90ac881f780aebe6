// `npm run chaos`: the long form of the fault-injection suite. Brings up the local stack, runs
// every scenario (`--runs N` times, `--requests N` each), prints the table and writes the rows to
// test-artifacts/chaos-results.json, then sends `--hostile N` generated hostile requests (2000 by
// default) and counts their outcomes. Exits 1 if anything was lost, duplicated or left without an outcome. It restarts and
// pauses the stack's services, so run it alone.
import fs from 'node:fs';
import path from 'node:path';
import { stackUp } from '../stack/local-stack';
import { loadStackConfig } from '../stack/stack-config';
import { formatTable, type ScenarioCounts } from './chaos-run';
import * as scenarios from './scenarios';
import { formatHostileRun, hostileRun } from '../support/hostile-requests';
import { startHarness } from '../support/test-worker';
import { defaultPreviousCommit, previousVersion } from './previous-version';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? Number(process.argv[index + 1]) : fallback;
}

function textOption(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<void> {
  const runs = option('runs', 1);
  const options = { requests: option('requests', 300), streamMs: option('stream-ms', 20_000) };
  const only = textOption('only');
  const config = loadStackConfig({ ...process.env, DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/card_approvals_test' });
  const stack = await stackUp(config);
  Object.assign(process.env, stack.endpoints);
  const home = config.stackHome;
  const all: Array<[string, () => Promise<ScenarioCounts>]> = [
    ['kill', () => scenarios.killNine(options, 3)],
    ['rebalance', () => scenarios.rebalance(options)],
    ['slow', () => scenarios.slowConsumer(options)],
    ['registry', () => scenarios.registryDown(options, home)],
    ['smtp', () => scenarios.smtpDown(options, home)],
    ['broker', () => scenarios.brokerRestart(options, home)],
    ['postgres', () => scenarios.postgresRestart(options)],
    // The previous version (--from COMMIT, default the commit before the newest migration) beside this one.
    ['upgrade', async () => scenarios.rollingUpgrade({ ...options, streamMs: Math.max(options.streamMs, 45_000) }, await previousVersion(textOption('from') ?? defaultPreviousCommit(), path.dirname(home)))],
  ];
  const rows: ScenarioCounts[] = [];
  for (let run = 1; run <= runs; run += 1) {
    for (const [name, scenario] of all) {
      if (only && !only.split(',').includes(name)) continue;
      const began = Date.now();
      const row = await scenario();
      rows.push(row);
      console.log(`run ${run} ${row.scenario}: lost ${row.lost}, duplicated ${row.duplicatedEffects}, out of order ${row.orderViolations} (${((Date.now() - began) / 1000).toFixed(0)} s)${row.problems.length ? `\n  ${row.problems.join('\n  ')}` : ''}`);
    }
  }
  // Generated hostile requests (the long form of the generator test in npm test).
  let hostileOk = true;
  if (!only || only.split(',').includes('hostile')) {
    for (let run = 1; run <= runs; run += 1) {
      const harness = await startHarness({ TOPIC_PARTITIONS: '4', LOG_LEVEL: 'warn' });
      try {
        await harness.startWorker();
        const result = await hostileRun(harness, option('hostile', 2000), 4);
        hostileOk &&= result.wrong.length === 0 && result.settled;
        console.log(`run ${run} hostile generator: ${formatHostileRun(result)}`);
      } finally {
        await harness.stop();
      }
    }
  }
  if (rows.length) console.log(`\n${formatTable(rows)}\n\n${runs} run(s) of ${options.requests} requests each.`);
  fs.mkdirSync(path.join(__dirname, '..', '..', 'test-artifacts'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, '..', '..', 'test-artifacts', 'chaos-results.json'), JSON.stringify(rows, null, 2));
  process.exit(hostileOk && rows.every((r) => r.lost === 0 && r.duplicatedEffects === 0 && r.orderViolations === 0 && r.stalls === 0 && r.defectLetters === 0) ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
