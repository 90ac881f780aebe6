// Small helpers for running the local stack's daemons: detached child processes with pid
// files, port probes and bounded waits. Nothing here knows about Kafka or the registry.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** A failure the person running the stack can act on: one line saying what to do. */
export class StackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StackError';
  }
}

export function isPortOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs, logFile, isAlive }: { timeoutMs: number; logFile?: string; isAlive?: () => boolean },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (isAlive && !isAlive()) {
      throw new StackError(`${what} exited during start-up; see ${logFile ?? 'its log'}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new StackError(`${what} did not become healthy within ${timeoutMs / 1000}s; see ${logFile ?? 'its log'}`);
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decides whether a service must be started: false when a healthy one already answers (it is
 * reused, whoever started it); throws when its port is held by something else; stops a stale
 * daemon of ours that no longer answers.
 */
export async function needsStart(opts: { what: string; healthy: () => Promise<boolean>; ports: number[]; pidFile: string; variable: string }): Promise<boolean> {
  if (await opts.healthy()) return false;
  for (const port of opts.ports) {
    if (await isPortOpen(port)) throw new StackError(`port ${port} is in use by something that is not ${opts.what}; free it or change ${opts.variable}`);
  }
  const previous = readPid(opts.pidFile);
  if (previous !== undefined && isProcessAlive(previous)) await stopDaemon(opts.pidFile);
  return true;
}

/** Starts a daemon that outlives this process; its pid goes to `pidFile` so `down` can stop it. */
export function startDaemon(opts: {
  command: string;
  args: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  logFile: string;
  pidFile: string;
}): number {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const log = fs.openSync(opts.logFile, 'a');
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    detached: true,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  if (child.pid === undefined) throw new StackError(`could not start ${opts.command}; is it installed?`);
  child.unref();
  fs.writeFileSync(opts.pidFile, String(child.pid));
  return child.pid;
}

export function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Stops a daemon we started (SIGTERM, then SIGKILL after a grace period) and forgets its pid. */
export async function stopDaemon(pidFile: string, graceMs = 15_000): Promise<boolean> {
  const pid = readPid(pidFile);
  fs.rmSync(pidFile, { force: true });
  if (pid === undefined || !isProcessAlive(pid)) return false;
  // Daemons run in their own process group, so this also reaches their children.
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isProcessAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isProcessAlive(pid)) signal('SIGKILL');
  return true;
}

/** Runs a build/download tool synchronously and turns a failure into one actionable line. */
export function runTool(command: string, args: string[], opts: { cwd: string; what: string; hint: string }): string {
  const result = spawnSync(command, args, { cwd: opts.cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new StackError(`${command} was not found on PATH; ${opts.hint}`);
  }
  if (result.status !== 0) {
    const tail = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-5).join(' | ');
    throw new StackError(`${opts.what} failed (${command} exited ${result.status}): ${tail}`);
  }
  return result.stdout;
}
