// CPU seconds of every process the bench depends on, grouped by role and read from /proc, so
// each phase can say where the machine's cores went: the worker, the broker, Postgres, the
// registry, the SMTP server, the baselines and the bench itself (the driver).
import fs from 'node:fs';

export type Role = 'worker' | 'baseline' | 'broker' | 'postgres' | 'registry' | 'smtp sink' | 'maildev' | 'driver';
export const ROLES: Role[] = ['worker', 'baseline', 'broker', 'postgres', 'registry', 'smtp sink', 'maildev', 'driver'];

export type CpuSnapshot = Record<Role, number>;

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** User + system CPU seconds of one process, or 0 once it has gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(stat[11]) + Number(stat[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

function roleOf(pid: number, own: Map<number, Role>): Role | undefined {
  const known = own.get(pid);
  if (known) return known;
  let cmdline: string;
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
  if (cmdline.includes('kafka.Kafka')) return 'broker';
  if (/apicurio|schema-registry/i.test(cmdline)) return 'registry';
  if (cmdline.includes('maildev')) return 'maildev';
  if (/^postgres[: ]/.test(cmdline) || /\/postgres /.test(cmdline)) return 'postgres';
  return undefined;
}

/**
 * Processes the bench started register here with their role (workers, baselines, the sink);
 * the stack's daemons are recognised by their command line. Processes that exited keep the CPU
 * they had when last seen, so a phase that stops a worker still counts it.
 */
export class ProcessCpu {
  private readonly own = new Map<number, Role>();
  private readonly lastSeen = new Map<number, { role: Role; seconds: number }>();

  register(pid: number | undefined, role: Role): void {
    if (pid !== undefined) this.own.set(pid, role);
  }

  snapshot(): CpuSnapshot {
    const totals = Object.fromEntries(ROLES.map((r) => [r, 0])) as CpuSnapshot;
    for (const entry of fs.readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      const role = roleOf(pid, this.own);
      if (!role) continue;
      const seconds = cpuSecondsOf(pid);
      if (seconds > 0) this.lastSeen.set(pid, { role, seconds });
    }
    for (const { role, seconds } of this.lastSeen.values()) totals[role] += seconds;
    const self = process.cpuUsage();
    totals.driver += (self.user + self.system) / 1e6;
    return totals;
  }
}

/** CPU seconds per role between two snapshots. */
export const cpuBetween = (before: CpuSnapshot, after: CpuSnapshot): CpuSnapshot =>
  Object.fromEntries(ROLES.map((r) => [r, Number((after[r] - before[r]).toFixed(2))])) as CpuSnapshot;

/** CPU milliseconds per unit of work, of the process that did it and of Postgres. */
export interface CpuPerUnit {
  process: number;
  postgres: number;
}

export const perUnit = (processSeconds: number, postgresSeconds: number, units: number): CpuPerUnit => ({
  process: Number(((processSeconds * 1000) / units).toFixed(3)),
  postgres: Number(((postgresSeconds * 1000) / units).toFixed(3)),
});
