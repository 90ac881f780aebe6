// A worker process started from the build, as operators run it, whose log the test can await.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { ROOT, WORKER_ARGS } from './build';

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves with the exit code (null when a signal ended it) and that signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  /** Resolves once the process has logged a line matching `pattern`; fails if it exits first. */
  logged(pattern: string | RegExp, timeoutMs?: number): Promise<void>;
}

/** The line a worker logs when its consumer has joined its group: from then on it takes work. */
export const JOINED_GROUP = '"msg":"consumer joined group"';

/**
 * Starts the build in `root` (this checkout's, or another version's) as a process. By default it
 * inherits this process's environment with `env` on top; `{ args, inherit: false }` starts other
 * arguments with `env` alone, as a container would (the image's own command and variables).
 */
export function startWorkerProcess(env: Record<string, string>, logFile?: string, root = ROOT, { args = WORKER_ARGS, inherit = true }: { args?: string[]; inherit?: boolean } = {}): WorkerProcess {
  const child = spawn(process.execPath, args, { cwd: root, env: inherit ? { ...process.env, ...env } : env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = logFile ? fs.createWriteStream(logFile, { flags: 'a' }) : undefined;
  let output = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    output += chunk.toString();
    log?.write(chunk);
    for (const check of waiters) check();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      log?.end();
      for (const check of waiters) check();
      resolve({ code, signal });
    }),
  );
  const matches = (pattern: string | RegExp): boolean => (typeof pattern === 'string' ? output.includes(pattern) : pattern.test(output));

  return {
    child,
    exited,
    output: () => output,
    logged: (pattern, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => settle(new Error(`no log line ${String(pattern)} within ${timeoutMs / 1000}s; output:\n${output.slice(-3000)}`)), timeoutMs);
        const settle = (error?: Error): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve();
        };
        const check = (): void => {
          if (matches(pattern)) settle();
          else if (child.exitCode !== null || child.signalCode !== null) settle(new Error(`the worker exited before logging ${String(pattern)}:\n${output.slice(-3000)}`));
        };
        waiters.add(check);
        check();
      }),
  };
}
