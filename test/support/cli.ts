import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs the operators' CLI as a process, with the worker's environment plus `env`. */
export function runCli(env: Record<string, string>, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [require.resolve('ts-node/dist/bin'), '--transpile-only', 'src/entry-points/cli/card-approvals.ts', ...args], {
    cwd: path.join(__dirname, '..', '..'),
    env: { ...process.env, ...env },
  });
}
