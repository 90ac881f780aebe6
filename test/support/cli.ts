import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT, ensureBuilt } from './build';

const run = promisify(execFile);

/**
 * Runs the operators' CLI as a process, from the compiled build as in production (jest's global
 * setup built it; compiling on every call would cost each test seconds of CPU), with the test's
 * environment (the worker's settings) plus `env`.
 */
export function runCli(env: Record<string, string>, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return runCliWithOnly({ ...process.env, ...env }, ...args);
}

/** The CLI with `env` as its whole environment: what a command needs is what it is given, nothing inherited. */
export async function runCliWithOnly(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  await ensureBuilt();
  return run(process.execPath, ['dist/entry-points/cli/card-approvals.js', ...args], { cwd: ROOT, env });
}
