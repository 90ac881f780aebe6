// Configuration is validated once, at start-up: a bad combination stops the worker with one line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/libraries/config';
import { problemsOf } from '../support/config-problems';
import { createCertificates, type TestCertificates } from '../support/certificates';


const localSignIn = { AUTH_LOCAL_SIGNIN: 'true', AUTH_SECRET: 'a-secret-that-is-long-enough-0123456789' };

test('local sign-in starts on a loopback host', () => {
  for (const host of ['127.0.0.1', '::1', 'localhost']) expect(problemsOf({ ...localSignIn, HTTP_HOST: host })).toEqual([]);
});

test('local sign-in refuses to start on a host reachable from elsewhere, or beside a JWKS URL', () => {
  expect(problemsOf({ ...localSignIn, HTTP_HOST: '0.0.0.0' })).toEqual([expect.stringContaining('AUTH_LOCAL_SIGNIN=true needs HTTP_HOST on loopback')]);
  expect(problemsOf({ ...localSignIn, AUTH_JWKS_URL: 'https://idp.example.com/jwks' })).toEqual([
    'AUTH_SECRET cannot be used with AUTH_JWKS_URL: tokens are verified against the JWKS only, and the secret would be ignored',
    'AUTH_LOCAL_SIGNIN=true cannot be used with AUTH_JWKS_URL (its tokens would be refused)',
  ]);
});

test('ROLE is all unless set, and an unknown role is refused with one line naming it', () => {
  expect(loadConfig({}).role).toBe('all');
  expect(loadConfig({ ROLE: 'consumer' }).role).toBe('consumer');
  expect(loadConfig({ ROLE: 'relays' }).role).toBe('relays');
  expect(problemsOf({ ROLE: 'relay' })).toEqual(['ROLE="relay" must be one of all, consumer, relays']);
  expect(() => loadConfig({ ROLE: 'emails' })).toThrow(/^invalid configuration: ROLE="emails" must be one of all, consumer, relays$/);
});

describe('Kafka TLS and SASL', () => {
  let dir: string;
  let certs: TestCertificates;
  let tls: Record<string, string>;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'config-test-'));
    certs = await createCertificates(dir);
    tls = { KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: certs.ca, KAFKA_SSL_CERT_FILE: certs.client.cert, KAFKA_SSL_KEY_FILE: certs.client.key, KAFKA_SSL_KEY_PASSWORD: certs.clientKeyPassword };
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, content: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  };
  const scram = { KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'worker', KAFKA_SASL_PASSWORD: ' pass word ' };

  test('without their variables, the connection is plaintext without SASL', () => {
    expect(loadConfig({}).kafka).toMatchObject({ ssl: undefined, sasl: undefined });
    expect(loadConfig({ KAFKA_SSL: 'false' }).kafka.ssl).toBeUndefined();
  });

  test('SCRAM takes its mechanism in either case, and the password as it is, from the variable or from a file without its final line break', () => {
    expect(loadConfig(scram).kafka.sasl).toEqual({ mechanism: 'scram-sha-256', username: 'worker', password: ' pass word ' });
    const fromFile = loadConfig({ ...scram, KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_PASSWORD: '', KAFKA_SASL_PASSWORD_FILE: write('sasl-password', 'from a file\n') });
    expect(fromFile.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'worker', password: 'from a file' });
  });

  test('TLS reads the CA, the client certificate and its encrypted key at load, with the key password from the variable or a file', () => {
    const { ssl } = loadConfig(tls).kafka;
    expect(ssl).toEqual({ ca: fs.readFileSync(certs.ca, 'utf8'), cert: fs.readFileSync(certs.client.cert, 'utf8'), key: fs.readFileSync(certs.client.key, 'utf8'), keyPassword: certs.clientKeyPassword });
    expect(ssl!.key).toContain('ENCRYPTED PRIVATE KEY');
    const passwordFile = write('key-password', `${certs.clientKeyPassword}\n`);
    expect(loadConfig({ ...tls, KAFKA_SSL_KEY_PASSWORD: '', KAFKA_SSL_KEY_PASSWORD_FILE: passwordFile }).kafka.ssl!.keyPassword).toBe(certs.clientKeyPassword);
    // A CA alone (brokers that want no client certificate), or nothing but the system's CAs.
    expect(loadConfig({ KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: certs.ca }).kafka.ssl).toMatchObject({ cert: undefined, key: undefined });
    expect(loadConfig({ KAFKA_SSL: 'true' }).kafka.ssl).toEqual({ ca: undefined, cert: undefined, key: undefined, keyPassword: undefined });
  });

  test('PLAIN is accepted over TLS only, since it sends the password itself', () => {
    const plain = { ...scram, KAFKA_SASL_MECHANISM: 'plain' };
    expect(problemsOf(plain)).toEqual(['KAFKA_SASL_MECHANISM=plain sends the password as it is: it needs KAFKA_SSL=true']);
    expect(loadConfig({ ...plain, KAFKA_SSL: 'true' }).kafka.sasl).toMatchObject({ mechanism: 'plain' });
  });

  test.each<[string, Record<string, string>, string[]]>([
    ['an unknown mechanism', { ...scram, KAFKA_SASL_MECHANISM: 'GSSAPI' }, ['KAFKA_SASL_MECHANISM="GSSAPI" must be one of plain, scram-sha-256, scram-sha-512']],
    [
      'a mechanism without username or password',
      { KAFKA_SASL_MECHANISM: 'scram-sha-512' },
      ['KAFKA_SASL_MECHANISM=scram-sha-512 needs KAFKA_SASL_USERNAME', 'KAFKA_SASL_MECHANISM=scram-sha-512 needs KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE'],
    ],
    [
      'a username and password without a mechanism',
      { KAFKA_SASL_USERNAME: 'worker', KAFKA_SASL_PASSWORD: 'secret' },
      ['KAFKA_SASL_USERNAME is set but KAFKA_SASL_MECHANISM is not', 'KAFKA_SASL_PASSWORD is set but KAFKA_SASL_MECHANISM is not'],
    ],
    ['a password both in a variable and in a file', { ...scram, KAFKA_SASL_PASSWORD_FILE: '/run/secrets/kafka-password' }, ['set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both']],
    ['a password file that cannot be read', { ...scram, KAFKA_SASL_PASSWORD: '', KAFKA_SASL_PASSWORD_FILE: '/nonexistent/password' }, ['KAFKA_SASL_PASSWORD_FILE cannot be read (ENOENT)']],
    ['KAFKA_SSL other than true or false', { KAFKA_SSL: 'yes' }, ['KAFKA_SSL="yes" must be true or false']],
  ])('SASL and TLS switches: %s is named', (_, env, problems) => {
    expect(problemsOf(env)).toEqual(problems);
  });

  // Each case breaks one thing of a configuration that is valid; the problem names that variable.
  test.each<[string, (t: TestCertificates) => Record<string, string>, string | RegExp]>([
    ['a CA file that cannot be read', () => ({ KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem' }), 'KAFKA_SSL_CA_FILE="/nonexistent/ca.pem" cannot be read (ENOENT)'],
    ['a CA file that holds no certificate', (t) => ({ KAFKA_SSL_CA_FILE: t.broker.key }), /^KAFKA_SSL_CA_FILE=".*broker\.key" holds no PEM certificate$/],
    ['a certificate without its key', () => ({ KAFKA_SSL_KEY_FILE: '', KAFKA_SSL_KEY_PASSWORD: '' }), 'KAFKA_SSL_CERT_FILE needs KAFKA_SSL_KEY_FILE'],
    ['a key without its certificate', () => ({ KAFKA_SSL_CERT_FILE: '' }), 'KAFKA_SSL_KEY_FILE needs KAFKA_SSL_CERT_FILE'],
    ['an encrypted key without its password', () => ({ KAFKA_SSL_KEY_PASSWORD: '' }), 'KAFKA_SSL_KEY_FILE is encrypted: set KAFKA_SSL_KEY_PASSWORD or KAFKA_SSL_KEY_PASSWORD_FILE'],
    ['a wrong key password', () => ({ KAFKA_SSL_KEY_PASSWORD: 'not the password' }), /^KAFKA_SSL_KEY_FILE=".*client\.key" is not a PEM private key that KAFKA_SSL_KEY_PASSWORD opens$/],
    ['the key of another certificate', (t) => ({ KAFKA_SSL_KEY_FILE: t.stranger.key, KAFKA_SSL_KEY_PASSWORD: '' }), 'KAFKA_SSL_KEY_FILE is not the key of the certificate in KAFKA_SSL_CERT_FILE'],
    ['a key password without a key', () => ({ KAFKA_SSL_CERT_FILE: '', KAFKA_SSL_KEY_FILE: '' }), 'KAFKA_SSL_KEY_PASSWORD needs KAFKA_SSL_KEY_FILE'],
  ])('TLS: %s is named', (_, change, problem) => {
    expect(problemsOf({ ...tls, ...change(certs) })).toEqual([typeof problem === 'string' ? problem : expect.stringMatching(problem)]);
  });

  test('TLS files without KAFKA_SSL=true are refused rather than ignored', () => {
    expect(problemsOf({ ...tls, KAFKA_SSL: '' })).toEqual(
      ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE', 'KAFKA_SSL_KEY_PASSWORD'].map((name) => `${name} is set but KAFKA_SSL is not true`),
    );
  });

  test('an expired client certificate is refused at load', () => {
    const expired = write('expired.pem', EXPIRED_CERTIFICATE);
    expect(problemsOf({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: expired, KAFKA_SSL_KEY_FILE: certs.stranger.key })).toContain(
      `KAFKA_SSL_CERT_FILE="${expired}" expired on 2000-01-02T00:00:00.000Z`,
    );
  });
});

/** A certificate valid on 1 January 2000 only (made once with `openssl ca -startdate -enddate`). */
const EXPIRED_CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIIBEzCBugIBATAKBggqhkjOPQQDAjAaMRgwFgYDVQQDDA9leHBpcmVkLXRlc3Qt
Y2EwHhcNMDAwMTAxMDAwMDAwWhcNMDAwMTAyMDAwMDAwWjASMRAwDgYDVQQDDAdl
eHBpcmVkMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtSMoH/ujzvAWatgViw26
4vo45lC0ja5oM0vF7XMeLWGTBOoXNtDcfVuajjdwrAvLa0GaVpEpx888vMiiat9S
HjAKBggqhkjOPQQDAgNIADBFAiEAwquqET2c5BjQHZswcYv6PcPas022MYHDEn51
wNaz1m4CIA4iUio+OWiQBrlWhrFbu7Pn+udYkMr8KUK0gqALyXRu
-----END CERTIFICATE-----
`;

test('card conflict policies default per operation, may be overridden, and refuse unknown operations and policies', () => {
  expect(loadConfig({}).cardConflictPolicy).toMatchObject({ LOCK_CARD: 'refuse', DEACTIVATE_CARD: 'supersede', REACTIVATE_CARD: 'supersede', REQUEST_CARD: 'refuse' });
  expect(loadConfig({ CARD_CONFLICT_POLICY: '{"LOCK_CARD":"supersede"}' }).cardConflictPolicy.LOCK_CARD).toBe('supersede');
  expect(problemsOf({ CARD_CONFLICT_POLICY: '{"LOCK_CARDS":"refuse","LOCK_CARD":"ignore"}' })).toEqual([
    'CARD_CONFLICT_POLICY.LOCK_CARD must be refuse or supersede',
    'CARD_CONFLICT_POLICY.LOCK_CARDS is not an operation (REQUEST_CARD, DEACTIVATE_CARD, REACTIVATE_CARD, LOCK_CARD, REQUEST_MULTIPLE_CARDS)',
  ]);
});

describe('approval timers (APPROVAL_TIMERS)', () => {
  const timers = (value: unknown): string[] => problemsOf({ APPROVAL_TIMERS: JSON.stringify(value) });
  const desk = { id: 'sec-desk', name: 'Security desk', email: 'security@example.com' };

  test('an operation overrides default, which overrides the built-in policy', () => {
    const config = loadConfig({ APPROVAL_TIMERS: JSON.stringify({ default: { expireAfter: '3d' }, LOCK_CARD: { remindAfter: '90s', escalateAfter: '2h', escalateTo: [desk] } }) });
    expect(config.timerPolicies.LOCK_CARD).toEqual({ remindAfterMs: 90_000, remindIntervalMaxMs: 72 * 3600_000, escalateAfterMs: 2 * 3600_000, escalateTo: [{ ...desk, locale: null }], expireAfterMs: 3 * 86_400_000 });
    expect(config.timerPolicies.REQUEST_CARD).toMatchObject({ remindAfterMs: 24 * 3600_000, expireAfterMs: 3 * 86_400_000, escalateAfterMs: null });
  });

  test.each([
    [{ LOCK_CARD: { remindAfter: '500ms' } }, 'APPROVAL_TIMERS.LOCK_CARD.remindAfter must be a duration from 1s to 366d'],
    [{ LOCK_CARD: { expireAfter: '1.5h' } }, 'APPROVAL_TIMERS.LOCK_CARD.expireAfter must be a duration'],
    [{ LOCK_CARD: { toString: '5s' } }, 'APPROVAL_TIMERS.LOCK_CARD.toString is not a setting'],
    [{ LOCK_CARD: { remindAfter: '2h', remindIntervalMax: '1h' } }, 'APPROVAL_TIMERS.LOCK_CARD.remindIntervalMax must be at least remindAfter'],
    [{ LOCK_CARD: { remindAfter: '1h', escalateAfter: '30d', escalateTo: [desk], expireAfter: '1d' } }, 'APPROVAL_TIMERS.LOCK_CARD.escalateAfter must be shorter than expireAfter'],
    [{ LOCK_CARD: { expireAfter: '1d' } }, 'APPROVAL_TIMERS.LOCK_CARD.remindAfter must be shorter than expireAfter'],
    [{ LOCK_CARD: { escalateAfter: '1h' } }, 'APPROVAL_TIMERS.LOCK_CARD.escalateAfter needs escalateTo'],
    [{ LOCK_CARD: { escalateAfter: '1h', escalateTo: [] } }, 'APPROVAL_TIMERS.LOCK_CARD.escalateAfter needs escalateTo'],
    [{ LOCK_CARD: { escalateAfter: '1h', escalateTo: [{ ...desk, name: 'Bad\u0000Name' }] } }, 'APPROVAL_TIMERS.LOCK_CARD.escalateTo[0].name contains a control or invalid character (U+0000)'],
    [{ LOCK_CARD: { escalateAfter: '1h', escalateTo: [{ ...desk, email: 'not-an-email' }] } }, 'APPROVAL_TIMERS.LOCK_CARD.escalateTo[0].email "not-an-email" is not a valid address'],
    [{ LOCK_CARD: { escalateAfter: '1h', escalateTo: [desk, desk] } }, 'APPROVAL_TIMERS.LOCK_CARD.escalateTo names "sec-desk" more than once'],
    [{ CARD_PRINTING: {} }, 'APPROVAL_TIMERS.CARD_PRINTING is not an operation (default, REQUEST_CARD'],
  ])('%j is refused at start-up: %s', (value, problem) => {
    expect(timers(value)).toEqual([expect.stringContaining(problem)]);
  });
});

describe('approval policies (APPROVAL_POLICY)', () => {
  const policy = (value: unknown): string[] => problemsOf({ APPROVAL_POLICY: JSON.stringify(value) });
  const sec = [
    { id: 'sec-1', name: 'Sec One', email: 'sec1@example.com' },
    { id: 'sec-2', name: 'Sec Two', email: 'sec2@example.com' },
  ];

  test('a rule is one stage of the request\'s approvers; stages are asked in order; default is ANY', () => {
    const config = loadConfig({
      APPROVAL_POLICY: JSON.stringify({
        default: { requestRule: 'deny' },
        LOCK_CARD: { rule: 'ALL' },
        DEACTIVATE_CARD: { rule: 'QUORUM 2', fromRequest: 'allow' },
        REQUEST_CARD: { stages: [{ name: 'line manager', rule: 'ANY' }, { name: 'security', rule: 'QUORUM 2', approvers: sec }] },
      }),
    });
    expect(config.approvalPolicies.LOCK_CARD).toEqual({ fromRequest: 'allow', requestRule: 'deny', stages: [{ name: 'approval', rule: { mode: 'ALL', quorum: null }, approvers: 'request' }] });
    expect(config.approvalPolicies.DEACTIVATE_CARD.stages[0]!.rule).toEqual({ mode: 'QUORUM', quorum: 2 });
    expect(config.approvalPolicies.REQUEST_CARD.stages).toEqual([
      { name: 'line manager', rule: { mode: 'ANY', quorum: null }, approvers: 'request' },
      { name: 'security', rule: { mode: 'QUORUM', quorum: 2 }, approvers: sec.map((p) => ({ ...p, locale: null })) },
    ]);
    expect(config.approvalPolicies.REACTIVATE_CARD).toEqual({ fromRequest: 'allow', requestRule: 'deny', stages: [{ name: 'approval', rule: { mode: 'ANY', quorum: null }, approvers: 'request' }] });
  });

  test.each([
    [{ LOCK_CARD: { rule: 'MOST' } }, 'APPROVAL_POLICY.LOCK_CARD.rule must be "ANY", "ALL" or "QUORUM n"'],
    [{ LOCK_CARD: { rule: 'QUORUM 0' } }, 'APPROVAL_POLICY.LOCK_CARD.rule: QUORUM needs a quorum from 1 to 100'],
    [{ LOCK_CARD: { rule: 'ALL', stages: [{ name: 'x' }] } }, 'APPROVAL_POLICY.LOCK_CARD sets rule or stages, not both'],
    [{ LOCK_CARD: { stages: [] } }, 'APPROVAL_POLICY.LOCK_CARD.stages must be an array of 1 to 10 stages'],
    [{ LOCK_CARD: { stages: [{ name: '', rule: 'ANY' }] } }, 'APPROVAL_POLICY.LOCK_CARD.stages[0].name is blank'],
    [{ LOCK_CARD: { stages: [{ name: 'a\u0000b', rule: 'ANY' }] } }, 'APPROVAL_POLICY.LOCK_CARD.stages[0].name contains a control or invalid character (U+0000)'],
    [{ LOCK_CARD: { stages: [{ name: 'x', rule: 'ALL' }, { name: 'y', rule: 'ANY' }] } }, "APPROVAL_POLICY.LOCK_CARD.stages takes the request's approvers in more than one stage"],
    [{ LOCK_CARD: { stages: [{ name: 'x', approvers: sec }, { name: 'y', approvers: [{ ...sec[0], id: 'SEC-1' }] }] } }, 'APPROVAL_POLICY.LOCK_CARD.stages names "sec-1" in more than one stage'],
    [{ LOCK_CARD: { stages: [{ name: 'x', rule: 'QUORUM 2', approvers: [sec[0], { ...sec[0], id: 'SEC-1' }] }] } }, 'APPROVAL_POLICY.LOCK_CARD.stages[0].approvers names "SEC-1" more than once'],
    [{ LOCK_CARD: { stages: [{ name: 'security', rule: 'QUORUM 3', approvers: sec }] } }, 'APPROVAL_POLICY.LOCK_CARD.stages[0] needs 3 approvals but names 2 approver(s)'],
    [{ LOCK_CARD: { stages: [{ name: 'security', approvers: [sec[0], sec[0]] }] } }, 'APPROVAL_POLICY.LOCK_CARD.stages[0].approvers names "sec-1" more than once'],
    [{ LOCK_CARD: { stages: [{ name: 's', order: 1 }] } }, 'APPROVAL_POLICY.LOCK_CARD.stages[0].order is not a setting'],
    [{ LOCK_CARD: { requestRule: 'maybe' } }, 'APPROVAL_POLICY.LOCK_CARD.requestRule must be "allow" or "deny"'],
  ])('%j is refused at start-up: %s', (value, problem) => {
    expect(policy(value)).toEqual([expect.stringContaining(problem)]);
  });
});

describe('declared settings', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settings-test-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string): string => {
    const at = path.join(dir, name);
    fs.writeFileSync(at, content);
    return at;
  };

  test('development needs no setting at all; production names each one it needs, and how to do without authentication', () => {
    expect(problemsOf({})).toEqual([]);
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([
      ...['KAFKA_BROKERS', 'TOPIC_REPLICATION_FACTOR', 'SCHEMA_REGISTRY_URL', 'DATABASE_URL', 'SMTP_URL', 'SMTP_FROM', 'OPERATOR_URL'].map((name) => expect.stringMatching(new RegExp(`^${name} must be set in production \\(NODE_ENV=production\\): `))),
      expect.stringMatching(/^AUTH_JWKS_URL must be set in production .*\(or set API_ENABLED=false\)$/),
      expect.stringMatching(/^ACCESS_LOG_HASH_KEY must be set in production .*\(or set API_ENABLED=false\)$/),
    ]);
  });

  test('each role needs in production only what it reaches: ROLE=relays the database, SMTP and the page its emails link to, no broker, registry or API settings; ROLE=consumer no SMTP settings', () => {
    expect(problemsOf({ NODE_ENV: 'production', ROLE: 'relays' })).toEqual(
      ['DATABASE_URL', 'SMTP_URL', 'SMTP_FROM', 'OPERATOR_URL'].map((name) => expect.stringMatching(new RegExp(`^${name} must be set in production \\(NODE_ENV=production\\): `))),
    );
    const relays = { NODE_ENV: 'production', ROLE: 'relays', DATABASE_URL: 'postgres://worker:pw@db.bank.example/card_approvals', SMTP_URL: 'smtps://smtp.bank.example', SMTP_FROM: 'Card approvals <card-approvals@bank.example>', OPERATOR_URL: 'https://approvals.bank.example/approvals' };
    expect(loadConfig(relays).role).toBe('relays');
    // The consumer reaches the broker and the registry and serves the API, and sends no email.
    expect(problemsOf({ ...relays, ROLE: 'consumer' }).map((p) => p.split(' ')[0])).toEqual(['KAFKA_BROKERS', 'TOPIC_REPLICATION_FACTOR', 'SCHEMA_REGISTRY_URL', 'AUTH_JWKS_URL', 'ACCESS_LOG_HASH_KEY']);
    expect(problemsOf({ NODE_ENV: 'production', ROLE: 'consumer' }).map((p) => p.split(' ')[0])).toEqual(['KAFKA_BROKERS', 'TOPIC_REPLICATION_FACTOR', 'SCHEMA_REGISTRY_URL', 'DATABASE_URL', 'OPERATOR_URL', 'AUTH_JWKS_URL', 'ACCESS_LOG_HASH_KEY']);
    expect(problemsOf({ ...relays, ROLE: 'both' })[0]).toMatch(/^ROLE="both" /);
  });

  test('the access log goes to stderr unless told otherwise; its hash key is fixed in development, at least 32 characters when given, and needed in production while the API is on', () => {
    expect(loadConfig({}).accessLog).toEqual({ destination: 'stderr', hashKey: expect.any(String) });
    expect(loadConfig({ ACCESS_LOG: 'stdout', ACCESS_LOG_HASH_KEY: 'k'.repeat(32) }).accessLog).toEqual({ destination: 'stdout', hashKey: 'k'.repeat(32) });
    expect(problemsOf({ ACCESS_LOG_HASH_KEY: 'short' })).toEqual(['ACCESS_LOG_HASH_KEY must be at least 32 characters']);
    const production = { NODE_ENV: 'production', AUTH_JWKS_URL: 'https://idp.bank.example/jwks' };
    expect(problemsOf(production)).toContainEqual(expect.stringMatching(/^ACCESS_LOG_HASH_KEY must be set in production/));
    expect(problemsOf({ ...production, ACCESS_LOG_HASH_KEY: 'short' }).filter((p) => p.startsWith('ACCESS_LOG_HASH_KEY'))).toEqual(['ACCESS_LOG_HASH_KEY must be at least 32 characters']);
    for (const env of [{ ...production, ACCESS_LOG_HASH_KEY: 'k'.repeat(32) }, { ...production, API_ENABLED: 'false' }]) {
      expect(problemsOf(env).filter((p) => p.startsWith('ACCESS_LOG_HASH_KEY'))).toEqual([]);
    }
  });

  test('a JSON setting with a syntax error names the line and column, and reads from its _FILE as well', () => {
    expect(problemsOf({ APPROVAL_POLICY: '{\n  "LOCK_CARD": { "rule": "ALL", }\n}' })).toEqual(['APPROVAL_POLICY is not valid JSON: PropertyNameExpected at line 2, column 33']);
    const timers = file('timers.json', JSON.stringify({ LOCK_CARD: { expireAfter: '2d' } }));
    expect(loadConfig({ APPROVAL_TIMERS_FILE: timers }).timerPolicies.LOCK_CARD.expireAfterMs).toBe(2 * 86_400_000);
    expect(loadConfig({ CARD_CONFLICT_POLICY_FILE: file('conflicts.json', '{"LOCK_CARD":"supersede"}\n') }).cardConflictPolicy.LOCK_CARD).toBe('supersede');
    expect(problemsOf({ APPROVER_GROUPS_FILE: file('groups.json', '[1, 2') })).toEqual([expect.stringMatching(/^APPROVER_GROUPS_FILE is not valid JSON: .* at line 1, column 6$/)]);
  });

  test('a secret that is wrong is named without its value, from the variable or from its file', () => {
    expect(problemsOf({ DATABASE_URL: 'mysql://admin:S3cretPW@db.example/x' })).toEqual(['DATABASE_URL must use postgres: or postgresql:']);
    expect(problemsOf({ SMTP_URL: 'ftp://mailer:S3cretPW@smtp.example' })).toEqual(['SMTP_URL must use smtp: or smtps:']);
    expect(problemsOf({ DATABASE_URL_FILE: file('database-url', 'postgres://worker:pw@db/x\n') })).toEqual([]);
    expect(loadConfig({ DATABASE_URL_FILE: file('database-url', 'postgres://worker:pw@db/x\n') }).databaseUrl).toBe('postgres://worker:pw@db/x');
    expect(loadConfig({ AUTH_SECRET_FILE: file('auth-secret', `${'k'.repeat(40)}\n`) }).auth.secret).toBe('k'.repeat(40));
  });

  test('email-link keys: the first signs, all verify; each at least 32 characters', () => {
    const [a, b] = ['a'.repeat(32), 'b'.repeat(40)];
    expect(loadConfig({ EMAIL_LINK_SECRET: `${a}, ${b}` }).emailLinks).toEqual({ secrets: [a, b], ttlMs: 7 * 86_400_000 });
    expect(problemsOf({ EMAIL_LINK_SECRET: `${a},short` })).toEqual(['EMAIL_LINK_SECRET must hold keys of at least 32 characters each']);
    expect(loadConfig({}).emailLinks).toBeUndefined();
  });

  test('topics are created with a retention each, the dead-letter topic the longest by default', () => {
    expect(loadConfig({}).kafka.retentionMs).toEqual({ requests: 7 * 86_400_000, decisions: 7 * 86_400_000, events: 30 * 86_400_000, deadLetter: 90 * 86_400_000 });
    expect(problemsOf({ TOPIC_RETENTION_DEAD_LETTER: '30m' })).toEqual(['TOPIC_RETENTION_DEAD_LETTER="30m" must be a duration from 1h to 3650d such as "90s", "4h" or "3d"']);
  });

  test('integers are written as integers: no exponent, hexadecimal, sign or padding', () => {
    for (const raw of ['1e2', '0x10', '+5', ' 5x', '5.0']) expect(problemsOf({ TOPIC_PARTITIONS: raw })).toEqual([expect.stringContaining('must be an integer between 1 and 1000')]);
  });
});

describe('settings tried the way a platform team would', () => {
  test('a command needs in production only what it reaches: provisioning, the broker and the registry', () => {
    const provisioning = { NODE_ENV: 'production', KAFKA_BROKERS: 'kafka-1.bank.example:9093', SCHEMA_REGISTRY_URL: 'https://registry.bank.example/apis/ccompat/v7', TOPIC_REPLICATION_FACTOR: '3' };
    expect(() => loadConfig(provisioning, ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'TOPIC_REPLICATION_FACTOR'])).not.toThrow();
    expect(() => loadConfig(provisioning)).toThrow(/DATABASE_URL must be set in production/);
    expect(problemsOf({ NODE_ENV: 'Production' })).toContainEqual(expect.stringMatching(/^KAFKA_BROKERS must be set in production/));
  });

  test.each<[string, Record<string, string>, string]>([
    ['a registry URL with credentials', { SCHEMA_REGISTRY_URL: 'https://reg:pw@registry.example/x' }, 'SCHEMA_REGISTRY_URL="https://reg:***@registry.example/x" must not hold a user or password (only secret settings may)'],
    ['a database URL with a bare %', { DATABASE_URL: 'postgres://worker:pw%@db.example/x' }, 'DATABASE_URL has a user or password that is not percent-encoded (write % as %25)'],
    ['a database URL without a host', { DATABASE_URL: 'postgres://' }, 'DATABASE_URL has no host'],
    ['a blank secret', { AUTH_SECRET: ' '.repeat(40) }, 'AUTH_SECRET is blank'],
    ['link keys that are only separators', { EMAIL_LINK_SECRET: ', ,' }, 'EMAIL_LINK_SECRET holds no key'],
    ['a Reply-To that is not an address', { EMAIL_REPLY_TO: 'Service desk <desk@example.com>' }, 'EMAIL_REPLY_TO="Service desk <desk@example.com>" is not an email address (name@example.com)'],
    ['a key __proto__ in a JSON setting', { EMAIL_LOCALES: '{"__proto__": {"LOCK_CARD": "sv"}}' }, 'EMAIL_LOCALES.__proto__ is not an operation (REQUEST_CARD, DEACTIVATE_CARD, REACTIVATE_CARD, LOCK_CARD, REQUEST_MULTIPLE_CARDS)'],
    ['JSON nested 5000 deep', { APPROVAL_POLICY: '['.repeat(5000) }, 'APPROVAL_POLICY is nested too deeply to read'],
  ])('%s is refused with one line', (_, env, problem) => {
    expect(problemsOf(env)).toEqual([problem]);
  });

  test('emails have a Reply-To only when EMAIL_REPLY_TO gives one', () => {
    expect(loadConfig({}).smtp.replyTo).toBeUndefined();
    expect(loadConfig({ EMAIL_REPLY_TO: ' desk@example.com ' }).smtp.replyTo).toBe('desk@example.com');
  });

  test('link keys may come one per line from a file', () => {
    const keys = ['k'.repeat(32), 'l'.repeat(33)];
    const at = path.join(os.tmpdir(), `link-keys-${process.pid}`);
    fs.writeFileSync(at, `${keys.join('\n')}\n`);
    try {
      expect(loadConfig({ EMAIL_LINK_SECRET_FILE: at }).emailLinks?.secrets).toEqual(keys);
    } finally {
      fs.rmSync(at);
    }
  });
});

test('METRICS_PORT unset serves health and metrics on HTTP_PORT; set, on a port of their own, which must not be HTTP_PORT', () => {
  expect(loadConfig({}).http).toEqual({ host: '127.0.0.1', port: 8080, metricsPort: undefined });
  expect(loadConfig({ METRICS_PORT: '9464' }).http).toEqual({ host: '127.0.0.1', port: 8080, metricsPort: 9464 });
  expect(loadConfig({ HTTP_PORT: '0', METRICS_PORT: '0' }).http).toMatchObject({ port: 0, metricsPort: 0 });
  expect(problemsOf({ METRICS_PORT: '8080' })).toEqual(['METRICS_PORT (8080) must differ from HTTP_PORT: leave it unset to serve metrics and health on HTTP_PORT']);
  expect(problemsOf({ METRICS_PORT: '70000' })).toEqual(['METRICS_PORT="70000" must be an integer between 0 and 65535']);
});
