// Worker processes in fault runs and benchmarks start from the compiled build, as in production.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');

/**
 * How the worker is started, as in the Dockerfile: a capped old generation keeps peak memory
 * near the working set (measured in BENCHMARKS.md) instead of V8's lazy default. The image sizes
 * it at half the container's memory limit, 160 MB at the Kubernetes manifests' 320 MiB; a test
 * machine has no such limit, so the cap is given here. kafkajs 2.2.4
 * schedules a negative timeout, which Node 24 reports on stderr (TimeoutNegativeWarning,
 * kafkajs#1751) and runs after 1 ms, as Node 20 did silently: that one warning is turned off.
 */
export const WORKER_ARGS = ['--max-old-space-size=160', '--max-semi-space-size=16', '--disable-warning=TimeoutNegativeWarning', 'dist/main.js'];

/** Set once the build is fresh for this run (jest's global setup builds before any test). */
const BUILT_VARIABLE = 'CARD_APPROVAL_WORKER_BUILT';

let built: Promise<void> | undefined;

/** Compiles src/ to dist/ once per run: test files share one build instead of racing to write it. */
export function ensureBuilt(): Promise<void> {
  if (process.env[BUILT_VARIABLE] === '1') return Promise.resolve();
  built ??= new Promise<void>((resolve, reject) => {
    // A build from scratch: a module moved or removed must not live on in dist/ and shadow its new place.
    fs.rmSync(path.join(ROOT, 'dist'), { recursive: true, force: true });
    const tsc = spawn(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    tsc.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`build failed (${code})`))));
  }).then(() => void (process.env[BUILT_VARIABLE] = '1'));
  return built;
}
