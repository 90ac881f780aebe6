// docker-compose.yml is read by the Compose people have: Compose 1.29 (Debian's `docker-compose`)
// as well as v2. `config` validates and normalises the file without a Docker engine. A machine
// without docker-compose fails this test: install it (`apt-get install docker-compose`; .ci/run
// does) rather than skip it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

function compose(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync('docker-compose', ['-f', 'docker-compose.yml', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  if (run.error) throw new Error(`docker-compose could not be run (${run.error.message}); install it: apt-get install docker-compose`);
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('when Compose 1.29 reads docker-compose.yml, then config exits 0 without a warning', () => {
  const run = compose('config');
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
});

test('when the file is normalised, then it names the five services of the stack', () => {
  const run = compose('config', '--services');
  expect(run.status).toBe(0);
  expect(run.stdout.trim().split('\n').sort()).toEqual(['kafka', 'postgres', 'schema-registry', 'smtp', 'worker']);
});

test('when Postgres starts, then the init file it is given exists and creates the database the registry uses', () => {
  const run = compose('config');
  // 1.29 writes each bind mount as `- <absolute source>:<target>[:mode]` and does not check that the source exists.
  const mounts = [...run.stdout.matchAll(/^\s*- (\/[^:\n]+):(\/docker-entrypoint-initdb\.d\/[^:\n]+)(?::ro)?$/gm)].map((m) => ({ source: m[1]!, target: m[2]! }));
  expect(mounts).toHaveLength(1);
  const init = fs.readFileSync(mounts[0]!.source, 'utf8');
  const registryDatabase = /APICURIO_DATASOURCE_URL: jdbc:postgresql:\/\/postgres:5432\/(\w+)/.exec(run.stdout)?.[1];
  expect(registryDatabase).toBe('card_approvals_schema_registry');
  expect(init).toMatch(new RegExp(`^CREATE DATABASE ${registryDatabase};$`, 'm'));
});
