// No secret is ever shown: a marker value in every secret setting, every configuration error that
// setting can have, and a failed connection for each one that connects, and not one line of
// output (the built worker's, the CLI's, the in-process worker's log) holds the marker in any
// spelling.
import { createPrivateKey, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { SETTINGS_BY_SUBJECT } from '../../src/libraries/config';
import { aRequest } from '../support/builders';
import { createCertificates } from '../support/certificates';
import { runCli } from '../support/cli';
import { startHarness, type Harness } from '../support/test-worker';
import { ensureBuilt } from '../support/build';
import { startWorkerProcess } from '../support/worker-process';
import { pollUntil } from '../../src/libraries/retry';

const MARKER = `S3cret-${randomUUID().slice(0, 8)}-marker`;
/** Every spelling a secret could leak in: as is, URL-encoded, base64 (SMTP AUTH PLAIN and LOGIN send that), hex. */
const spellings = (secret: string): string[] => [
  secret,
  encodeURIComponent(secret),
  Buffer.from(secret).toString('base64'),
  Buffer.from(`\u0000worker\u0000${secret}`).toString('base64'),
  Buffer.from(secret).toString('hex'),
];
const leaks = (text: string): string[] => spellings(MARKER).filter((s) => text.includes(s));

const SECRETS = SETTINGS_BY_SUBJECT.flatMap(({ settings }) => Object.entries(settings).filter(([, s]) => s.secret).map(([name]) => name));

let dir: string;
let closedPort: number;
beforeAll(async () => {
  await ensureBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'secrets-'));
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The built worker's whole output for `env` (it exits on its own, or is stopped after 15 s). */
async function workerOutput(env: Record<string, string>): Promise<string> {
  // A dependency that does not answer is waited for (STARTUP_WAIT), with progress lines, then named.
  const worker = startWorkerProcess({ LOG_LEVEL: 'debug', STARTUP_WAIT: '3s', ...env });
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 15_000);
  await worker.exited;
  clearTimeout(timer);
  return worker.output();
}

test('the secret settings are the ones this test covers', () => {
  expect(SECRETS.sort()).toEqual(['ACCESS_LOG_HASH_KEY', 'AUTH_OIDC_CLIENT_SECRET', 'AUTH_SECRET', 'CARD_APPROVALS_TOKEN', 'DATABASE_URL', 'EMAIL_LINK_SECRET', 'KAFKA_SASL_PASSWORD', 'KAFKA_SSL_KEY_PASSWORD', 'SMTP_URL']);
});

describe('configuration errors', () => {
  const file = (name: string, content: string): string => {
    const at = path.join(dir, name);
    fs.writeFileSync(at, content);
    return at;
  };
  // Each secret, wrong in every way the declarations and their checks know.
  const cases = (): Array<[string, Record<string, string>]> => [
    ...SECRETS.flatMap((name): Array<[string, Record<string, string>]> => [
      [`${name} and ${name}_FILE both set`, { [name]: MARKER, [`${name}_FILE`]: file(`${name}-both`, MARKER) }],
      [`${name}_FILE unreadable`, { [`${name}_FILE`]: path.join(dir, 'missing') }],
    ]),
    ['DATABASE_URL of another scheme', { DATABASE_URL: `mysql://admin:${MARKER}@db.bank.example/card_approvals` }],
    ['DATABASE_URL not a URL', { DATABASE_URL: `admin:${MARKER} at db` }],
    ['DATABASE_URL from a file, of another scheme', { DATABASE_URL: '', DATABASE_URL_FILE: file('database-url', `mysql://admin:${MARKER}@db/x\n`) }],
    ['SMTP_URL of another scheme', { SMTP_URL: `ftp://mailer:${MARKER}@smtp.bank.example` }],
    ['SMTP_URL not a URL', { SMTP_URL: `mailer:${MARKER}` }],
    ['AUTH_SECRET too short', { AUTH_SECRET: MARKER }],
    ['ACCESS_LOG_HASH_KEY too short', { ACCESS_LOG_HASH_KEY: MARKER }],
    ['AUTH_SECRET beside a JWKS URL', { AUTH_SECRET: `${MARKER}${MARKER}`, AUTH_JWKS_URL: 'https://idp.bank.example/jwks' }],
    ['EMAIL_LINK_SECRET with a short key', { EMAIL_LINK_SECRET: `${MARKER}${MARKER},${MARKER}` }],
    ['AUTH_OIDC_CLIENT_SECRET without an issuer', { AUTH_OIDC_CLIENT_SECRET: MARKER }],
    ['KAFKA_SASL_PASSWORD without a mechanism', { KAFKA_SASL_PASSWORD: MARKER }],
    ['KAFKA_SASL_PASSWORD with plain over plaintext', { KAFKA_SASL_PASSWORD: MARKER, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'worker' }],
    ['KAFKA_SSL_KEY_PASSWORD without TLS', { KAFKA_SSL_KEY_PASSWORD: MARKER }],
    ['KAFKA_SSL_KEY_PASSWORD without a key', { KAFKA_SSL: 'true', KAFKA_SSL_KEY_PASSWORD: MARKER }],
    ['DATABASE_URL with a password that is not percent-encoded', { DATABASE_URL: `postgres://worker:${MARKER}%@db.bank.example/x` }],
    ['a secret put in DATABASE_URL_FILE instead of a path', { DATABASE_URL_FILE: `postgres://worker:${MARKER}@db.bank.example/x` }],
    // Settings that are no secret, given credentials anyway: refused, the password masked.
    ...(['SCHEMA_REGISTRY_URL', 'OPERATOR_URL', 'CARD_APPROVALS_API_URL', 'AUTH_JWKS_URL'] as const).map((name): [string, Record<string, string>] => [`${name} with credentials`, { [name]: `https://someone:${MARKER}@host.bank.example/x` }]),
    ['an OIDC issuer with credentials', { AUTH_OIDC_ISSUER: `https://someone:${MARKER}@idp.bank.example`, AUTH_OIDC_CLIENT_ID: 'card-approvals', AUTH_JWKS_URL: 'https://idp.bank.example/jwks' }],
  ];

  test('each one stops the built worker with lines naming the setting, and none holds the secret', async () => {
    const all = cases();
    for (const [what, env] of all) {
      const output = await workerOutput(env);
      expect({ what, named: /invalid configuration: /.test(output), leaks: leaks(output) }).toEqual({ what, named: true, leaks: [] });
    }
    expect(all.length).toBeGreaterThanOrEqual(2 * SECRETS.length + 19);
  }, 120_000);
});

describe('failed connections', () => {
  test('a database, a broker login and a TLS key that fail at start-up are reported without their secrets', async () => {
    const certs = await createCertificates(dir);
    // The client key, encrypted again under the marker as its password.
    const key = createPrivateKey({ key: fs.readFileSync(certs.client.key, 'utf8'), passphrase: certs.clientKeyPassword });
    const keyFile = path.join(dir, 'marked.key');
    fs.writeFileSync(keyFile, key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: MARKER }));
    const runs: Array<[string, Record<string, string>]> = [
      ['a database that refuses the connection', { DATABASE_URL: `postgres://worker:${MARKER}@127.0.0.1:${closedPort}/card_approvals` }],
      ['a database role that does not exist', { DATABASE_URL: `postgres://no_such_role:${MARKER}@127.0.0.1:5432/card_approvals_test` }],
      ['a broker that does not speak SASL', { KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'worker', KAFKA_SASL_PASSWORD: MARKER, DATABASE_URL: process.env.DATABASE_URL! }],
      ['a broker that does not speak TLS', { KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: certs.ca, KAFKA_SSL_CERT_FILE: certs.client.cert, KAFKA_SSL_KEY_FILE: keyFile, KAFKA_SSL_KEY_PASSWORD: MARKER }],
    ];
    for (const [what, env] of runs) {
      const output = await workerOutput(env);
      expect({ what, failed: /"level":60/.test(output), leaks: leaks(output) }).toEqual({ what, failed: true, leaks: [] });
    }
  }, 120_000);

  describe('while the worker runs', () => {
    let harness: Harness;
    let smtp: SMTPServer;
    const logins: string[] = [];
    beforeAll(async () => {
      // An SMTP server that asks for a login and refuses every one.
      smtp = new SMTPServer({
        authOptional: false,
        allowInsecureAuth: true,
        disabledCommands: ['STARTTLS'],
        onAuth: (auth, _session, callback) => {
          logins.push(auth.password ?? '');
          callback(new Error('Invalid username or password'));
        },
      });
      await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
      const smtpPort = (smtp.server.address() as net.AddressInfo).port;
      harness = await startHarness({
        SMTP_URL: `smtp://worker:${encodeURIComponent(MARKER)}@127.0.0.1:${smtpPort}?tls=off`,
        AUTH_OIDC_ISSUER: `http://127.0.0.1:${closedPort}`,
        AUTH_OIDC_CLIENT_ID: 'card-approvals',
        AUTH_OIDC_CLIENT_SECRET: MARKER,
        AUTH_JWKS_URL: `http://127.0.0.1:${closedPort}/jwks`,
        AUTH_ISSUER: '',
        OPERATOR_URL: 'http://127.0.0.1:8080/approvals',
        EMAIL_LINK_SECRET: `${MARKER}${MARKER}`,
        ACCESS_LOG_HASH_KEY: `${MARKER}${MARKER}`,
        LOG_LEVEL: 'debug',
      });
    });
    afterAll(async () => {
      await harness?.stop();
      await new Promise((resolve) => smtp.close(() => resolve(undefined)));
    });

    test('an SMTP login refused, a sign-in provider away, tokens refused and a CLI call to an API away are reported without their secrets', async () => {
      const worker = await harness.startWorker();
      const base = `http://127.0.0.1:${worker.httpPort}`;
      const request = aRequest('LOCK_CARD');
      await harness.publishRequest(request);
      // The email relay tried to log in, with the marker, and was refused.
      await pollUntil(async () => logins.length, (n) => n > 0, { what: 'an SMTP login' });
      expect(logins[0]).toBe(MARKER);
      await pollUntil(async () => fs.readFileSync(harness.logFile, 'utf8'), (log) => log.includes('email delivery failed'), { what: 'the refused login logged' });
      // Sign-in needs the provider's discovery document: it is away.
      expect((await fetch(`${base}/auth/login`)).status).toBeGreaterThanOrEqual(400);
      // A token signed with the marker as its key, and one that is the marker.
      for (const token of [MARKER, `eyJhbGciOiJIUzI1NiJ9.e30.${Buffer.from(MARKER).toString('base64url')}`]) {
        expect((await fetch(`${base}/api/tasks`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
      }
      const cli = await runCli({ ...harness.env, CARD_APPROVALS_API_URL: `http://127.0.0.1:${closedPort}`, CARD_APPROVALS_TOKEN: MARKER }, 'decide', request.requestId, 'APPROVED').catch(
        (error: { stdout: string; stderr: string }) => error,
      );
      expect(leaks(`${cli.stdout}${cli.stderr}`)).toEqual([]);
      expect(leaks(fs.readFileSync(harness.logFile, 'utf8'))).toEqual([]);
      expect(leaks(fs.readFileSync(harness.accessLogFile, 'utf8'))).toEqual([]);
    }, 60_000);
  });
});
