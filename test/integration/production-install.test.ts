// What a production install holds (`npm ci --omit=dev` and dist/) is enough for every entry point
// of the build: the worker, the migration and provisioning commands, the operators' CLI. Every
// package the compiled code requires is a dependency, not a development one.
import { builtinModules } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, ensureBuilt } from '../support/build';

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
