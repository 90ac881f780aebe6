// The previous version of the worker, built from git for the mixed-version run: a worktree of
// that commit with its own dependencies and build, cached by commit, so a rerun costs nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from '../support/build';

export interface WorkerVersion {
  /** The full commit id. */
  commit: string;
  /** Its short id, for tables and log names. */
  label: string;
  /** Where its build is: a worker process runs `dist/main.js` there. */
  root: string;
  /** Whether it has approval policies (ALL, QUORUM, stages): without them it decides by the first final decision. */
  knowsPolicies: boolean;
}

const MIGRATIONS = 'src/data-access/migrations';

const git = (...args: string[]): string => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();

/**
 * N−1 when none is named: the commit before the newest migration (this checkout's, when it is
 * not committed yet). A change with a migration of its own makes that the newest, so its N−1 is
 * the commit before it.
 */
export function defaultPreviousCommit(): string {
  const newest = fs.readdirSync(path.join(ROOT, MIGRATIONS)).filter((f) => /^\d+-.*\.ts$/.test(f)).sort().at(-1)!;
  const added = git('log', '-1', '--format=%H', '--diff-filter=A', '--', `${MIGRATIONS}/${newest}`);
  return added ? `${added}~1` : 'HEAD';
}

function run(what: string, command: string, args: string[], cwd: string): void {
  console.log(`[previous version] ${what}`);
  const result = spawnSync(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`${what} failed (exit ${result.status ?? result.signal})`);
}

/** Builds `commit` (any name git knows) once into `cacheHome`, and says where it is. */
export function previousVersion(commit: string, cacheHome: string): WorkerVersion {
  const sha = git('rev-parse', '--verify', `${commit}^{commit}`);
  const root = path.join(cacheHome, 'versions', sha);
  const version = { commit: sha, label: sha.slice(0, 7), root, knowsPolicies: fs.existsSync(path.join(root, 'src/domain/approval-votes.ts')) };
  const marker = path.join(root, '.built');
  if (fs.existsSync(marker)) return version;
  fs.rmSync(root, { recursive: true, force: true });
  git('worktree', 'prune');
  run(`checking out ${version.label} into ${root}`, 'git', ['worktree', 'add', '--detach', '--force', root, sha], ROOT);
  run(`installing ${version.label}'s dependencies`, 'npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], root);
  run(`building ${version.label}`, 'npm', ['run', 'build', '--silent'], root);
  fs.writeFileSync(marker, `${new Date().toISOString()}\n`);
  return { ...version, knowsPolicies: fs.existsSync(path.join(root, 'src/domain/approval-votes.ts')) };
}
