// The fault scenarios. Each starts workers, streams requests and decisions while it injects its
// fault, and returns the counts once everything has settled.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startKafka } from '../stack/kafka-broker';
import { SERVICES, readPid, stopDaemon } from '../stack/processes';
import { JOINED_GROUP, type WorkerProcess } from '../support/worker-process';
import { ChaosRun, type ScenarioCounts } from './chaos-run';
import type { WorkerVersion } from './previous-version';

export interface ScenarioOptions {
  requests: number;
  streamMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until the worker is in its group and the run has made `fraction` of its progress. */
async function workingAt(run: ChaosRun, worker: WorkerProcess, options: ScenarioOptions, fraction: number): Promise<void> {
  await worker.logged(JOINED_GROUP);
  await run.opened(Math.floor(options.requests * fraction));
}

async function withRun(
  name: string,
  options: ScenarioOptions,
  fault: (run: ChaosRun) => Promise<void>,
  env: Record<string, string> = {},
  runOptions: Parameters<typeof ChaosRun.create>[2] = {},
): Promise<ScenarioCounts> {
  const run = await ChaosRun.create(name, env, runOptions);
  try {
    const streaming = run.stream(options.requests, options.streamMs);
    const startedAt = Date.now();
    await fault(run);
    const endedAt = Date.now();
    await streaming;
    if (run.workers.length === 0) run.startWorker();
    return await run.settleAndCount({ startedAt, endedAt });
  } finally {
    await run.close();
  }
}

/** kill -9 of the worker at points spread over the stream, each time restarted. */
export function killNine(options: ScenarioOptions, kills = 3): Promise<ScenarioCounts> {
  return withRun(`kill -9 x${kills}`, options, async (run) => {
    let worker = run.startWorker();
    for (let i = 1; i <= kills; i += 1) {
      await workingAt(run, worker, options, i / (kills + 1));
      await run.stopWorker(worker, 'SIGKILL');
      worker = run.startWorker();
    }
  });
}

/** Three workers in one group; one joins, one leaves with SIGTERM, one dies with kill -9. */
export function rebalance(options: ScenarioOptions): Promise<ScenarioCounts> {
  return withRun('rebalance (3 workers, +1, SIGTERM 1, kill -9 1)', options, async (run) => {
    const [first, second, third] = [run.startWorker(), run.startWorker(), run.startWorker()];
    await Promise.all([first!, second!].map((w) => w.logged(JOINED_GROUP)));
    await workingAt(run, third!, options, 1 / 4);
    await workingAt(run, run.startWorker(), options, 2 / 4);
    const code = await run.stopWorker(first!, 'SIGTERM');
    if (code !== 0) throw new Error(`a worker stopped with SIGTERM exited ${code}`);
    await workingAt(run, second!, options, 3 / 4);
    await run.stopWorker(second!, 'SIGKILL');
  });
}

/** A transaction held up longer than the session timeout (a table lock) must not cost the group. */
export function slowConsumer(options: ScenarioOptions): Promise<ScenarioCounts> {
  const lockMs = ChaosRun.SESSION_TIMEOUT_MS + 3000;
  return withRun(`slow database (${lockMs / 1000} s lock > ${ChaosRun.SESSION_TIMEOUT_MS / 1000} s session timeout)`, options, async (run) => {
    await workingAt(run, run.startWorker(), options, 1 / 3);
    await run.db.transaction(async (db) => {
      await db.query('LOCK TABLE approval_requests IN ACCESS EXCLUSIVE MODE');
      await sleep(lockMs);
    });
  });
}

function pause(pid: number, ms: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  return sleep(ms).finally(() => process.kill(pid, 'SIGCONT'));
}

/** The schema registry stops answering for 30 s; a worker restarted meanwhile has to wait for it. */
export function registryDown(options: ScenarioOptions, stackHome: string): Promise<ScenarioCounts> {
  return withRun('schema registry down 30 s', options, async (run) => {
    const worker = run.startWorker();
    await workingAt(run, worker, options, 1 / 3);
    const pid = readPid(path.join(stackHome, SERVICES['schema registry'].pidFile));
    if (pid === undefined) throw new Error('the registry was not started by the local stack');
    const outage = pause(pid, 30_000);
    await run.stopWorker(worker, 'SIGKILL');
    run.startWorker();
    await outage;
  });
}

/** The SMTP server stops answering for 60 s. */
export function smtpDown(options: ScenarioOptions, stackHome: string): Promise<ScenarioCounts> {
  return withRun('SMTP down 60 s', options, async (run) => {
    await workingAt(run, run.startWorker(), options, 1 / 3);
    const pid = readPid(path.join(stackHome, SERVICES['smtp inbox'].pidFile));
    if (pid === undefined) throw new Error('MailDev was not started by the local stack');
    await pause(pid, 60_000);
    // Sends hang until their socket times out: the lease must outlive that, as in production.
  }, { OUTBOX_LEASE_MS: '30000' });
}

/** The broker is restarted mid-stream (SIGTERM, then started again on its data). */
export function brokerRestart(options: ScenarioOptions, stackHome: string): Promise<ScenarioCounts> {
  return withRun('broker restart', options, async (run) => {
    await workingAt(run, run.startWorker(), options, 1 / 3);
    await stopDaemon(path.join(stackHome, SERVICES.kafka.pidFile));
    await sleep(3000); // the outage
    await startKafka({ home: stackHome, port: 9092, controllerPort: 9093 }, 'java');
  });
}

/** Postgres is restarted mid-stream (the machine's cluster, through pg_ctlcluster). */
export function postgresRestart(options: ScenarioOptions): Promise<ScenarioCounts> {
  return withRun('postgres restart', options, async (run) => {
    await workingAt(run, run.startWorker(), options, 1 / 3);
    const version = fs.readdirSync('/etc/postgresql')[0]!;
    execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'restart'], { stdio: 'ignore' });
    // The run's own pool must reconnect too: its next queries simply open new connections.
  });
}

/**
 * A rolling update across `previous`'s migrations, as Kubernetes runs one, then a rollback and a
 * roll forward: two workers of the previous version work on an empty database (they migrate it
 * to their schema); a worker of this checkout starts and migrates while they run; the old ones
 * get SIGTERM one by one and a second new one starts. Then a worker of the previous version
 * starts against the migrated database and a new one is stopped (the rollback); last, a new one
 * starts and the old one is stopped (forward again). Traffic runs throughout. A partition with
 * work and no batch completing for 15 s counts as stalled.
 */
export function rollingUpgrade(options: ScenarioOptions, previous: WorkerVersion): Promise<ScenarioCounts> {
  const steps = 7;
  const at = (run: ChaosRun, worker: WorkerProcess, step: number): Promise<void> => workingAt(run, worker, options, step / steps);
  const sigterm = async (run: ChaosRun, worker: WorkerProcess): Promise<void> => {
    const code = await run.stopWorker(worker, 'SIGTERM');
    if (code !== 0) throw new Error(`a worker stopped with SIGTERM exited ${code}`);
  };
  return withRun(
    `rolling update from ${previous.label}, rollback, forward again`,
    options,
    async (run) => {
      const [old1, old2] = [run.startWorker(previous), run.startWorker(previous)];
      await at(run, old2!, 1);
      await at(run, old1!, 1);
      const new1 = run.startWorker(); // migrates while the old ones work
      await at(run, new1, 2);
      await sigterm(run, old1!);
      await at(run, new1, 3);
      await sigterm(run, old2!);
      const new2 = run.startWorker();
      await at(run, new2, 4);
      // The rollback: the previous version on the migrated database.
      const old3 = run.startWorker(previous);
      await at(run, old3, 5);
      await sigterm(run, new1);
      await at(run, old3, 6);
      // Forward again.
      await at(run, run.startWorker(), 6);
      await sigterm(run, old3);
      await at(run, new2, 7);
    },
    { PARTITION_STALLED_AFTER_MS: '15000' },
    { migrate: false, policyMix: previous.knowsPolicies },
  );
}
