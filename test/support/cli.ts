import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT, ensureBuilt } from './build';

const run = promisify(execFile);

/**
 * Runs the operators' CLI as a process, from the compiled build as in production (jest's global
 * setup built it; compiling on every call would cost each test seconds of CPU), with the worker's
 * environment plus `env`.
 */
export async function runCli(env: Record<string, string>, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  await ensureBuilt();
  return run(process.execPath, ['dist/entry-points/cli/card-approvals.js', ...args], { cwd: ROOT, env: { ...process.env, ...env } });
}
