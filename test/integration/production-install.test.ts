// What a production install holds (`npm ci --omit=dev` and dist/) is enough for every entry point
// of the build: the worker, the migration and provisioning commands, the operators' CLI. Every
// package the compiled code requires is a dependency, not a development one.
//
// The image's final stage, replayed without a Docker engine (none runs here): its files copied
// and its RUN steps run in an empty directory, then its commands started with its ENV alone, as
// the Kubernetes manifests run them: the migration command as the migrator would (secrets read
// from files) against a fresh database, then the worker with MIGRATE=false, its HEALTHCHECK, and
// SIGTERM. The worker writes nothing into the image's files or its temporary directory, which is
// what lets the manifests mount the root filesystem read-only.
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { builtinModules } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, ensureBuilt } from '../support/build';
import { readDockerfile, type ImageStage } from '../support/dockerfile';
import { freePort } from '../support/ports';
import { startHarness, type Harness } from '../support/test-worker';
import { JOINED_GROUP, startWorkerProcess } from '../support/worker-process';

const run = promisify(execFile);

const files = (dir: string): string[] =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.js') ? [path.join(dir, e.name)] : []));

test('every package the build requires is a production dependency', async () => {
  await ensureBuilt();
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const required = new Map<string, string>();
  for (const file of files(path.join(ROOT, 'dist'))) {
    for (const [, spec] of fs.readFileSync(file, 'utf8').matchAll(/require\("([^".][^"]*)"\)/g)) {
      const name = spec!.startsWith('@') ? spec!.split('/').slice(0, 2).join('/') : spec!.split('/')[0]!;
      if (!builtinModules.includes(name) && !name.startsWith('node:')) required.set(name, path.relative(ROOT, file));
    }
  }
  expect([...required.keys()]).toEqual(expect.arrayContaining(['kafkajs', 'typeorm', 'zod', 'jsonc-parser']));
  const missing = [...required].filter(([name]) => !(name in pkg.dependencies));
  expect(missing).toEqual([]);
  for (const entry of ['main.js', 'entry-points/cli/migrate.js', 'entry-points/cli/provision.js', 'entry-points/cli/card-approvals.js']) expect(fs.existsSync(path.join(ROOT, 'dist', entry))).toBe(true);
});

describe('the image, replayed', () => {
  const stages = readDockerfile();
  const image = stages.at(-1)!;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'card-approval-image-'));
  /** The image's /app. */
  const app = path.join(scratch, 'app');
  /** Its temporary directory (TMPDIR), and the mounted secrets. */
  const tmp = path.join(scratch, 'tmp');
  const secrets = path.join(scratch, 'secrets');
  // The Node the tests run on comes first, as the image's is its only one.
  const PATH = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`;
  /** A container's environment: the image's ENV and what the manifests add, nothing inherited. */
  const container = (settings: Record<string, string>): Record<string, string> => ({ PATH, TMPDIR: tmp, ...image.env, ...settings });
  /** The image's command with its node the tests' Node. */
  const args = (command: string[]): string[] => {
    expect(command[0]).toBe('node');
    return command.slice(1);
  };
  let harness: Harness;
  const id = randomUUID().slice(0, 8);

  /** COPY and RUN of the final stage, into `app`. */
  async function replay(stage: ImageStage): Promise<void> {
    const into = (destination: string): string => path.join(app, path.posix.relative(stage.workdir, path.posix.resolve(stage.workdir, destination)));
    for (const step of stage.steps) {
      if ('run' in step) {
        // A build step keeps this machine's network settings (a CA bundle, proxies), not the
        // settings of an npm that may have started these tests.
        const machine = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
        await run('/bin/sh', ['-c', step.run], { cwd: app, env: { ...machine, PATH, ...stage.env }, maxBuffer: 16 * 1024 * 1024 });
        continue;
      }
      const { from, sources, destination } = step.copy;
      const source = from === undefined ? undefined : stages.find((s) => s.name === from);
      if (from !== undefined && !source) throw new Error(`COPY --from=${from}: no such stage`);
      for (const item of sources) {
        // The build stage's files are this checkout's build (ensureBuilt), at the same place.
        const local = path.join(ROOT, source ? path.posix.relative(source.workdir, item) : item);
        const target = destination.endsWith('/') ? path.join(into(destination), path.basename(local)) : into(destination);
        fs.cpSync(local, target, { recursive: true });
      }
    }
  }

  /** Every file under `dir` with its size and modification time. */
  const snapshot = (dir: string): string[] =>
    fs.readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => {
      const file = path.join(e.parentPath, e.name);
      const stat = fs.lstatSync(file);
      return `${path.relative(dir, file)} ${stat.size} ${stat.mtimeMs}`;
    });

  beforeAll(async () => {
    await ensureBuilt();
    for (const dir of [app, tmp, secrets]) fs.mkdirSync(dir, { recursive: true });
    await replay(image);
    harness = await startHarness();
  }, 300_000);
  afterAll(async () => {
    await harness?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** Writes a secret as a mounted Secret holds it (one key, one file) and returns its path. */
  const secret = (name: string, value: string): string => {
    const file = path.join(secrets, name);
    fs.writeFileSync(file, `${value}\n`, { mode: 0o400 });
    return file;
  };

  /** Runs the image's HEALTHCHECK command once; resolves with its exit code. */
  const healthcheck = (env: Record<string, string>) => (): Promise<number | null> => {
    const child = spawn(process.execPath, args(image.healthcheck!.command), { cwd: app, env, stdio: 'ignore' });
    return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  };

  test('holds what the worker needs and no development package', () => {
    expect(image.user).toBe('node');
    for (const entry of ['dist/main.js', 'dist/entry-points/cli/migrate.js', 'schemas', 'templates', 'node_modules/kafkajs']) expect(fs.existsSync(path.join(app, entry))).toBe(true);
    // Not ts-node and typescript: typeorm names ts-node an optional peer, and npm then keeps a
    // development dependency of that name in the production install (npm/cli#6282, #7740).
    for (const dev of ['jest', 'ts-jest', 'node']) expect(fs.existsSync(path.join(app, 'node_modules', dev))).toBe(false);
  });

  test('when the migration command runs from it against a fresh database, then it applies every migration, and a second run finds nothing to do', async () => {
    const env = container({ DATABASE_URL_FILE: secret('migrator-database-url', harness.env.DATABASE_URL!) });
    const first = await run(process.execPath, ['dist/entry-points/cli/migrate.js'], { cwd: app, env });
    expect(first.stdout).toMatch(/^applied: ApprovalSchema1764000000000, /);
    const [{ applied }] = (await harness.db.query('SELECT count(*)::int AS applied FROM migrations')) as [{ applied: number }];
    expect(applied).toBe(harness.db.migrations.length);
    const second = await run(process.execPath, ['dist/entry-points/cli/migrate.js'], { cwd: app, env });
    expect(second.stdout.trim()).toBe('database is up to date');
  }, 120_000);

  test('when the worker starts from it with MIGRATE=false after the migration, then it joins its group, is ready, passes its health check and exits 0 on SIGTERM, having written no file', async () => {
    const port = await freePort();
    const env = container({
      // What the manifests' ConfigMap gives.
      MIGRATE: 'false',
      KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
      SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL!,
      TOPIC_REPLICATION_FACTOR: '1',
      SMTP_FROM: 'Card approvals <card-approvals@bank.example>',
      OPERATOR_URL: 'https://approvals.bank.example/approvals',
      AUTH_JWKS_URL: 'https://idp.bank.example/jwks',
      HTTP_PORT: String(port),
      TOPIC_PREFIX: harness.env.TOPIC_PREFIX!,
      KAFKA_GROUP_ID: harness.env.KAFKA_GROUP_ID!,
      TOPIC_PARTITIONS: harness.env.TOPIC_PARTITIONS!,
      // What the manifests' Secret gives, as files.
      DATABASE_URL_FILE: secret('database-url', harness.env.DATABASE_URL!),
      SMTP_URL_FILE: secret('smtp-url', process.env.SMTP_URL!),
      ACCESS_LOG_HASH_KEY_FILE: secret('access-log-hash-key', `access-log-key-${id}-0123456789abcdefghij`),
    });
    // The migration ran in the previous test; without it this worker refuses to start.
    const [{ applied }] = (await harness.db.query('SELECT count(*)::int AS applied FROM migrations')) as [{ applied: number }];
    expect(applied).toBe(harness.db.migrations.length);

    const before = snapshot(app);
    const logFile = path.join(ROOT, 'test-artifacts', `worker-image-${id}.log`);
    const worker = startWorkerProcess(env, logFile, app, { args: args(image.cmd), inherit: false });
    try {
      await worker.logged(JOINED_GROUP, 90_000);
      await worker.logged('"msg":"worker started"');
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await healthcheck(env)()).toBe(0);
    } finally {
      worker.child.kill('SIGTERM');
    }
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(await healthcheck(env)()).toBe(1);
    expect(snapshot(app)).toEqual(before);
    expect(fs.readdirSync(tmp)).toEqual([]);
  }, 180_000);
});
