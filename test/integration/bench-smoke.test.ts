// The benchmark itself is not a test (timings belong in `npm run bench`); this only checks that
// every phase of it runs end to end and writes its results.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

test('when the bench runs in its smoke size, then every phase completes and the table, JSON and chart are written', async () => {
  const child = spawn(process.execPath, [require.resolve('ts-node/dist/bin'), '--transpile-only', 'test/bench/bench.ts', '--smoke'], {
    cwd: ROOT,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`bench --smoke exited ${code}:\n${output}`);

  const written = /written (\S+)\.\{json,md,svg\}/.exec(output)?.[1];
  expect(written).toBeDefined();
  const result = JSON.parse(fs.readFileSync(path.join(ROOT, `${written}.json`), 'utf8'));
  expect(result.main.latencyMs.samples).toBeGreaterThan(0);
  expect(result.main.baselinePerSecond).toBeGreaterThan(0);
  expect(result.main.sameEffectsPerSecond).toBeGreaterThan(0); // and the same rows as the worker's, which the bench checks
  expect(Number.isFinite(result.main.cpuMsPerRequest.worker.process)).toBe(true); // from the worker's start, less an idle start: noise at this size
  expect(result.matrix).toHaveLength(2); // the smoke run's one partition count × 1 and 2 workers
  expect(result.stored.api).toHaveLength(6);
  expect(fs.readFileSync(path.join(ROOT, `${written}.svg`), 'utf8')).toMatch(/^<svg/);
  expect(output).toContain('| intake (requests/s) |');
}, 300_000);
