// The built worker in production mode (NODE_ENV=production, as the image sets it): every setting
// production needs must be given, and a missing or refused one stops it at start-up, before it
// connects to anything, with one line naming the setting.
import net from 'node:net';
import { ensureBuilt } from '../support/build';
import { startWorkerProcess } from '../support/worker-process';

/** Stands in for every service: counts the connections the worker opens. */
let listener: net.Server;
let connections = 0;
let port = 0;
beforeAll(async () => {
  await ensureBuilt();
  listener = net.createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  port = (listener.address() as net.AddressInfo).port;
});
afterAll(() => new Promise((resolve) => listener.close(resolve)));

/** A production configuration with every setting it requires, each pointing at the listener. */
const production = (): Record<string, string> => ({
  NODE_ENV: 'production',
  KAFKA_BROKERS: `127.0.0.1:${port}`,
  SCHEMA_REGISTRY_URL: `http://127.0.0.1:${port}/apis/ccompat/v7`,
  DATABASE_URL: `postgres://worker@127.0.0.1:${port}/card_approvals`,
  SMTP_URL: `smtp://127.0.0.1:${port}`,
  SMTP_FROM: 'Card approvals <card-approvals@bank.example>',
  OPERATOR_URL: 'https://approvals.bank.example/approvals',
  TOPIC_REPLICATION_FACTOR: '3',
  AUTH_JWKS_URL: 'https://idp.bank.example/jwks',
  AUTH_SECRET: '',
  AUTH_LOCAL_SIGNIN: '',
  ACCESS_LOG_HASH_KEY: 'an-access-log-key-that-is-long-enough-0123',
  LOG_LEVEL: 'info',
});

/** Runs the built worker with `env` until it exits; its output, exit code, and the connections it opened. */
async function start(env: Record<string, string>): Promise<{ code: number | null; lines: string[]; connected: number }> {
  const before = connections;
  const worker = startWorkerProcess(env);
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 15_000);
  const { code } = await worker.exited;
  clearTimeout(timer);
  return { code, lines: worker.output().split('\n').filter(Boolean), connected: connections - before };
}

test('with every setting production requires, the worker goes on to connect (the listener sees it)', async () => {
  const worker = startWorkerProcess(production());
  const before = connections;
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => connections > before && (clearInterval(poll), resolve()), 50);
  });
  worker.child.kill('SIGKILL');
  await worker.exited;
  expect(connections).toBeGreaterThan(before);
});

test.each(['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'DATABASE_URL', 'SMTP_URL', 'SMTP_FROM', 'OPERATOR_URL', 'TOPIC_REPLICATION_FACTOR'])(
  'when %s is missing in production, then the worker exits 1 before connecting, with one line naming it',
  async (name) => {
    const { code, lines, connected } = await start({ ...production(), [name]: '' });
    expect({ code, connected }).toEqual({ code: 1, connected: 0 });
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^invalid configuration: ${name} must be set in production \\(NODE_ENV=production\\)`))]);
  },
  30_000,
);

test.each<[string, Record<string, string>, RegExp]>([
  ['no way to authenticate API callers', { AUTH_JWKS_URL: '' }, /^invalid configuration: AUTH_JWKS_URL must be set in production .*or set API_ENABLED=false/],
  ['no key for the access log\'s search-term hashes', { ACCESS_LOG_HASH_KEY: '' }, /^invalid configuration: ACCESS_LOG_HASH_KEY must be set in production .*or set API_ENABLED=false/],
  ['local sign-in', { AUTH_JWKS_URL: '', AUTH_SECRET: 'a-secret-that-is-long-enough-0123456789', AUTH_LOCAL_SIGNIN: 'true' }, /^invalid configuration: AUTH_LOCAL_SIGNIN=true is refused in production/],
  ['a JWKS URL over plain http off loopback', { AUTH_JWKS_URL: 'http://idp.bank.example/jwks' }, /^invalid configuration: AUTH_JWKS_URL="http:\/\/idp.bank.example\/jwks" must use https/],
  ['AUTH_SECRET beside a JWKS URL', { AUTH_SECRET: 'a-secret-that-is-long-enough-0123456789' }, /^invalid configuration: AUTH_SECRET cannot be used with AUTH_JWKS_URL/],
])('when production is given %s, then the worker exits 1 before connecting, with one line saying why', async (_, change, line) => {
  const { code, lines, connected } = await start({ ...production(), ...change });
  expect({ code, connected }).toEqual({ code: 1, connected: 0 });
  expect(lines).toEqual([expect.stringMatching(line)]);
}, 30_000);

test('with the API switched off, production needs no way to authenticate callers, nor a key for search-term hashes', async () => {
  const worker = startWorkerProcess({ ...production(), AUTH_JWKS_URL: '', ACCESS_LOG_HASH_KEY: '', API_ENABLED: 'false' });
  const before = connections;
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => connections > before && (clearInterval(poll), resolve()), 50);
  });
  worker.child.kill('SIGKILL');
  await worker.exited;
  expect(worker.output()).not.toContain('invalid configuration');
});
