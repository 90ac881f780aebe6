// The previous version of the worker, built from git for the mixed-version run: a worktree of
// that commit with its own dependencies and build, cached by commit, so a rerun costs nothing.
import { execFileSync, spawn } from 'node:child_process';
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

/** Versions kept built: the newest used; older ones are removed (each is a few hundred MB). */
const KEEP = 3;

function run(what: string, command: string, args: string[], cwd: string): Promise<void> {
  console.log(`[previous version] ${what}`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${what} failed (exit ${code ?? signal})`))));
  });
}

/** Builds `commit` (any name git knows) once into `cacheHome`/versions, and says where it is. */
export async function previousVersion(commit: string, cacheHome: string): Promise<WorkerVersion> {
  const sha = git('rev-parse', '--verify', `${commit}^{commit}`);
  const versions = path.join(cacheHome, 'versions');
  const root = path.join(versions, sha);
  const marker = path.join(root, '.built');
  if (!fs.existsSync(marker)) {
    fs.rmSync(root, { recursive: true, force: true });
    git('worktree', 'prune');
    await run(`checking out ${sha.slice(0, 7)} into ${root}`, 'git', ['worktree', 'add', '--detach', '--force', root, sha], ROOT);
    await run(`installing ${sha.slice(0, 7)}'s dependencies`, 'npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], root);
    await run(`building ${sha.slice(0, 7)}`, 'npm', ['run', 'build', '--silent'], root);
  }
  fs.writeFileSync(marker, `${new Date().toISOString()}\n`); // when it was last used
  const older = fs
    .readdirSync(versions)
    .map((dir) => ({ dir: path.join(versions, dir), used: fs.statSync(path.join(versions, dir, '.built'), { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => b.used - a.used)
    .slice(KEEP);
  for (const { dir } of older) fs.rmSync(dir, { recursive: true, force: true });
  if (older.length) git('worktree', 'prune');
  return { commit: sha, label: sha.slice(0, 7), root, knowsPolicies: fs.existsSync(path.join(root, 'src/domain/approval-votes.ts')) };
}
