// The image, checked statically (no Docker engine runs here; test/integration/production-install
// replays its final stage): what it declares agrees with the package, the worker's settings and
// its routes, and its heap setting is one the Node it ships accepts.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WORKER_SETTINGS } from '../../src/libraries/config';
import { ROOT, WORKER_ARGS } from '../support/build';
import { readDockerfile } from '../support/dockerfile';

const image = readDockerfile().at(-1)!;
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; description: string; license: string; devDependencies: Record<string, string> };
const served = Object.keys((JSON.parse(fs.readFileSync(path.join(ROOT, 'docs/openapi/openapi.json'), 'utf8')) as { paths: Record<string, unknown> }).paths);

test('its OCI labels name the package, its description and licence, and take the version from the build', () => {
  expect(image.labels).toEqual({
    'org.opencontainers.image.title': pkg.name,
    'org.opencontainers.image.description': pkg.description,
    'org.opencontainers.image.licenses': pkg.license,
    'org.opencontainers.image.version': '${VERSION}',
    'org.opencontainers.image.revision': '${REVISION}',
    'org.opencontainers.image.source': '${SOURCE_URL}',
  });
  expect(Object.keys(image.args)).toEqual(['VERSION', 'REVISION', 'SOURCE_URL']);
});

test('it runs as the node user, in production mode, listening beyond loopback on the port it exposes', () => {
  expect(image.user).toBe('node');
  expect(image.env).toMatchObject({ NODE_ENV: 'production', HTTP_HOST: '0.0.0.0' });
  expect(image.expose).toEqual([Number(WORKER_SETTINGS.HTTP_PORT.default)]);
  expect(image.cmd).toEqual(['node', '--disable-warning=TimeoutNegativeWarning', 'dist/main.js']);
});

test('its health check asks the liveness route, a route the worker serves, on HTTP_PORT', () => {
  const { options, command } = image.healthcheck!;
  expect(command.slice(0, 2)).toEqual(['node', '-e']);
  const [route] = /\/health\/\w+/.exec(command[2]!) ?? [];
  expect(route).toBe('/health/live');
  expect(served).toContain(route);
  expect(command[2]).toContain(`process.env.HTTP_PORT || ${WORKER_SETTINGS.HTTP_PORT.default}`);
  expect(options).toMatchObject({ interval: '10s', timeout: '5s' });
});

test('its heap follows the memory the process may use: half of it, with the Node the image and the tests run', () => {
  // The image's Node is the `node` dev dependency's version, which runs these tests.
  expect(readDockerfile()[0]!.from).toBe(`node:${pkg.devDependencies.node}-bookworm-slim`);
  expect(image.from).toBe(readDockerfile()[0]!.from);
  expect(image.env.NODE_OPTIONS).toBe('--max-old-space-size-percentage=50 --max-semi-space-size=16');
  // The young generation the benchmarks ran with.
  expect(WORKER_ARGS).toContain('--max-semi-space-size=16');
  const read = (nodeOptions: string): { limit: number; memory: number } =>
    JSON.parse(
      execFileSync(process.execPath, ['-p', "JSON.stringify({ limit: require('v8').getHeapStatistics().heap_size_limit, memory: Math.min(process.constrainedMemory() || Infinity, require('os').totalmem()) })"], { env: { PATH: process.env.PATH, NODE_OPTIONS: nodeOptions }, encoding: 'utf8' }),
    ) as { limit: number; memory: number };
  const { limit, memory } = read(image.env.NODE_OPTIONS!);
  // The limit is the old generation plus the young one (a few MB).
  expect(limit / memory).toBeGreaterThan(0.49);
  expect(limit / memory).toBeLessThan(0.52);
  expect(os.totalmem()).toBeGreaterThanOrEqual(memory);
});
