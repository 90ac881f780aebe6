// Small helpers for running the local stack's daemons: detached child processes with pid
// files, port probes and bounded waits. Nothing here knows about Kafka or the registry.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pollUntil } from '../../src/libraries/retry';

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

/**
 * How long a service may take to answer once started. A JVM service usually answers within
 * seconds, but on a cold 2-core machine under a test run's load it has taken over a minute.
 */
export const JVM_START_TIMEOUT_MS = 180_000;
export const NODE_START_TIMEOUT_MS = 120_000;

/** Where the stack says what it is doing; a slow start then looks slow, not broken. */
export type Report = (line: string) => void;
export const reportToStderr: Report = (line) => process.stderr.write(`  ${line}\n`);

/**
 * Waits until `check` passes. The deadline counts from this call, which the caller makes right
 * after starting the service; it ends with one last check, so a service that came up while the
 * last wait ran is not called unhealthy. A process that exits fails the wait at once.
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs, logFile, isAlive, report = reportToStderr }: { timeoutMs: number; logFile?: string; isAlive?: () => boolean; report?: Report },
): Promise<void> {
  const began = Date.now();
  let nextReport = began + 10_000;
  while (Date.now() - began < timeoutMs) {
    if (await check().catch(() => false)) return;
    if (isAlive && !isAlive()) throw new StackError(`${what} exited during start-up; see ${logFile ?? 'its log'}`);
    if (Date.now() >= nextReport) {
      report(`still waiting for ${what} (${Math.round((Date.now() - began) / 1000)}s of at most ${timeoutMs / 1000}s)`);
      nextReport += 10_000;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (await check().catch(() => false)) return;
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

interface DaemonOptions {
  command: string;
  args: string[];
  cwd: string;
  env?: NodeJS.ProcessEnv;
  logFile: string;
}

/** Starts a daemon that outlives this process; its pid goes to `pidFile` so `down` can stop it. */
export function startDaemon(opts: DaemonOptions & { pidFile: string }): number {
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

/** The stack's services: what each is (for messages), the variable that sets its ports, its pid file. */
export const SERVICES = {
  kafka: { kind: 'a Kafka broker', variable: 'KAFKA_BROKERS', pidFile: 'kafka.pid' },
  'schema registry': { kind: 'a schema registry', variable: 'SCHEMA_REGISTRY_URL', pidFile: 'registry.pid' },
  'smtp inbox': { kind: 'MailDev', variable: 'SMTP_URL / SMTP_INBOX_URL', pidFile: 'maildev.pid' },
} as const;
export type ServiceName = keyof typeof SERVICES;

export interface ServiceOptions {
  service: ServiceName;
  /** Where its pid file goes. */
  runDir: string;
  ports: number[];
  healthy: () => Promise<boolean>;
  timeoutMs: number;
  report: Report;
  /** Gets everything the start needs (downloads, formatting) and says how to run it. */
  prepare: () => Promise<DaemonOptions & { what: string; serviceLog?: string }>;
}

/**
 * Starts a service unless a healthy one already answers (it is reused, whoever started it).
 * A port held by something else fails at once; a stale daemon of ours that no longer answers is
 * stopped first. The health wait's deadline starts when the daemon does.
 */
export async function startService(opts: ServiceOptions): Promise<{ started: boolean }> {
  if (await opts.healthy()) return { started: false };
  const { kind, variable } = SERVICES[opts.service];
  const pidFile = path.join(opts.runDir, SERVICES[opts.service].pidFile);
  const previous = readPid(pidFile);
  if (previous !== undefined && isProcessAlive(previous)) {
    // Ours and running: under load it can be slow to answer, so it gets a while before it is
    // called stale and replaced.
    if (await pollUntil(opts.healthy, Boolean, { timeoutMs: 20_000, intervalMs: 500, what: kind }).catch(() => false)) return { started: false };
    await stopDaemon(pidFile);
  }
  for (const port of opts.ports) {
    if (await isPortOpen(port)) throw new StackError(`port ${port} is in use by something that is not ${kind}; free it or change ${variable}`);
  }
  const daemon = await opts.prepare();
  opts.report(`starting ${daemon.what}`);
  const pid = startDaemon({ ...daemon, pidFile });
  await waitFor(daemon.what, opts.healthy, { timeoutMs: opts.timeoutMs, logFile: daemon.serviceLog ?? daemon.logFile, isAlive: () => isProcessAlive(pid), report: opts.report });
  return { started: true };
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

/**
 * Runs a build/download tool without blocking the event loop (health waits of services already
 * started keep running) and turns a failure into one actionable line.
 */
export function runTool(command: string, args: string[], opts: { cwd: string; what: string; hint: string }): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(new StackError(error.code === 'ENOENT' ? `${command} was not found on PATH; ${opts.hint}` : `${opts.what} failed: ${error.message}`)),
    );
    child.on('close', (status) => {
      if (status === 0) return resolve({ stdout, stderr });
      const tail = `${stdout}${stderr}`.trim().split('\n').slice(-5).join(' | ');
      reject(new StackError(`${opts.what} failed (${command} exited ${status}): ${tail}`));
    });
  });
}

let mavenQueue: Promise<unknown> = Promise.resolve();

/** Maven's local repository is not safe for two writers: Maven runs one at a time. */
export function runMaven(args: string[], opts: { cwd: string; what: string }): Promise<unknown> {
  const run = mavenQueue.then(() =>
    runTool('mvn', ['-B', '-q', ...args], { ...opts, hint: 'install Apache Maven (for example: apt-get install maven) or use docker compose' }),
  );
  mavenQueue = run.catch(() => undefined);
  return run;
}
