// The worker with only the rights its job needs: the database prepared by the migration command
// as the migrator role (docs/database-roles.sql), topics and schemas by the provisioning command,
// and a worker that runs as the runtime role with MIGRATE=false, KAFKA_CREATE_TOPICS=false and a
// read-only registry, through a whole approval. A recording proxy in front of the registry shows
// it sent no write. What is missing refuses start-up, named.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { ConfigResourceTypes } from 'kafkajs';
import { DataSource } from 'typeorm';
import { createKafka } from '../../src/adapters/kafka/kafka-client';
import { AuditTrail } from '../../src/data-access/audit-trail';
import { allTopics, loadConfig } from '../../src/libraries/config';
import { createLogger } from '../../src/libraries/logger';
import { deleteSubjects, deleteTopics } from '../support/topics';
import { aDecision, aRequest } from '../support/builders';
import { ROOT, ensureBuilt } from '../support/build';
import { waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';

const run = promisify(execFile);
const id = randomUUID().slice(0, 8);
const roles = { migrator: `ca_migrator_${id}`, runtime: `ca_runtime_${id}` };
const database = `card_approvals_roles_${id}`;
const admin = new URL(process.env.DATABASE_URL!);
const as = (role: string, db = database): string => Object.assign(new URL(admin), { username: role, pathname: `/${db}` }).toString();

/** A proxy in front of the registry that records every request it forwards. */
let proxy: http.Server;
let proxyUrl = '';
const seen: string[] = [];
let superuser: DataSource;
let harness: Harness;

beforeAll(async () => {
  await ensureBuilt();
  superuser = await new DataSource({ type: 'postgres', url: admin.toString() }).initialize();
  await superuser.query(`CREATE ROLE ${roles.migrator} LOGIN`);
  await superuser.query(`CREATE ROLE ${roles.runtime} LOGIN`);
  await superuser.query(`CREATE DATABASE ${database} OWNER ${roles.migrator}`);
  // The documented set-up, as documented: psql on the worker's database.
  await run('psql', [as(admin.username || 'postgres'), '-q', '-v', 'ON_ERROR_STOP=1', '-v', `migrator=${roles.migrator}`, '-v', `runtime=${roles.runtime}`, '-v', `database=${database}`, '-f', path.join(ROOT, 'docs/database-roles.sql')]);
  // The migration command, as the migrator, from the build.
  const migrated = await run(process.execPath, ['dist/entry-points/cli/migrate.js'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: as(roles.migrator) } });
  expect(migrated.stdout).toMatch(/^applied: ApprovalSchema1764000000000, /);

  const registry = new URL(process.env.SCHEMA_REGISTRY_URL!).origin;
  proxy = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void fetch(`${registry}${req.url}`, { method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/json' }, body: chunks.length ? Buffer.concat(chunks) : undefined })
        .then(async (answer) => res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await answer.arrayBuffer())))
        .catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;

  harness = await startHarness({ DATABASE_URL: as(roles.runtime) });
  // The provisioning command, with the rights the worker lacks: topics and schemas.
  const provisioned = await run(process.execPath, ['dist/entry-points/cli/provision.js'], { cwd: ROOT, env: { ...process.env, ...harness.env } });
  expect(provisioned.stdout).toContain(`schema approval-event under ${harness.config.topics.events}-value`);
}, 120_000);

afterAll(async () => {
  await harness?.stop();
  await new Promise((resolve) => proxy?.close(resolve));
  await superuser.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await superuser.query(`DROP ROLE IF EXISTS ${roles.runtime}`);
  await superuser.query(`DROP ROLE IF EXISTS ${roles.migrator}`);
  await superuser.destroy();
});

const leastPrivilege = () => ({ MIGRATE: 'false', KAFKA_CREATE_TOPICS: 'false', SCHEMA_REGISTRY_REGISTER: 'false', SCHEMA_REGISTRY_URL: `${proxyUrl}/apis/ccompat/v7` });

test('the runtime role may change rows but not the schema', async () => {
  const runtime = await new DataSource({ type: 'postgres', url: as(roles.runtime) }).initialize();
  try {
    await expect(runtime.query('CREATE TABLE sneaky (i int)')).rejects.toThrow(/permission denied for schema public/);
    await expect(runtime.query('ALTER TABLE approval_requests ADD COLUMN sneaky int')).rejects.toThrow(/must be owner of table approval_requests/);
    await expect(runtime.query('TRUNCATE approval_events')).rejects.toThrow(/permission denied/);
  } finally {
    await runtime.destroy();
  }
});

test('when the worker runs as the runtime role with MIGRATE=false, KAFKA_CREATE_TOPICS=false and a read-only registry, then a request is approved end to end and the registry got no write', async () => {
  seen.length = 0;
  const worker = await harness.startWorker(leastPrivilege());
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  await waitForEmails(request.approvers[0]!.email, 1);
  await harness.publishDecision(aDecision(request, 'APPROVED'));
  const [, approved] = await harness.waitForEvents(request.requestId, 2);
  expect(approved!.type).toBe('APPROVED');
  await waitForEmails(request.requester.email, 1);
  expect(await harness.record(request.requestId)).toMatchObject({ status: 'APPROVED' });
  // The database chained its history as the runtime role wrote it (the trigger needs row rights only), and that role reads the chain back.
  const { reports } = await new AuditTrail(harness.db).verify({ requestId: request.requestId }, { requests: 1, entries: 100 });
  expect(reports).toEqual([expect.objectContaining({ entries: 2, erasedDigests: 0, problems: [] })]);
  // The state lease is taken with row rights too: the worker serves the database's state.
  const metrics = await (await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`)).text();
  expect(metrics).toMatch(/^cardapproval_state_reporter 1$/m);
  expect(metrics).toMatch(/^cardapproval_outbox_backlog\{outbox="events"\} \d/m);

  expect(seen.length).toBeGreaterThan(0);
  expect(seen.filter((r) => !r.startsWith('GET '))).toEqual([]);
}, 60_000);

test.each<[string, () => Record<string, string>, RegExp]>([
  ['a database without the migrations', () => ({ DATABASE_URL: as(roles.runtime, 'postgres') }), /the database schema is not current \(MIGRATE=false\): migrations not applied: ApprovalSchema1764000000000, /],
  ['a topic nobody created', () => ({ TOPIC_DEAD_LETTER: `${harness.config.topics.deadLetter}.missing` }), /topics missing \(KAFKA_CREATE_TOPICS=false.*\): .*dead-letter\.missing$/],
  ['a schema nobody registered', () => ({ TOPIC_DECISIONS: `${harness.config.topics.events}.unregistered`, KAFKA_CREATE_TOPICS: 'true' }), /holds no schema under .*\.unregistered-value \(SCHEMA_REGISTRY_REGISTER=false/],
])('when the worker with least privilege finds %s, then it refuses to start and names it', async (_, change, refusal) => {
  await expect(harness.startWorker({ ...leastPrivilege(), ...change() })).rejects.toThrow(refusal);
}, 60_000);

test('the provisioning command creates each topic with its retention (the dead-letter topic keeps its letters 90 days by default)', async () => {
  const prefix = `provisioned-${id}.`;
  const env = { ...process.env, ...harness.env, TOPIC_PREFIX: prefix, TOPIC_RETENTION_EVENTS: '45d' };
  await run(process.execPath, ['dist/entry-points/cli/provision.js'], { cwd: ROOT, env });
  const kafka = createKafka(harness.config.kafka, createLogger('silent'), `provision-check-${id}`).admin();
  await kafka.connect();
  try {
    const topics = { [`${prefix}card-approvals.dead-letter`]: 90, [`${prefix}card-approvals.events`]: 45, [`${prefix}card-approvals.decisions`]: 7, [`${prefix}card-operations.lock-card`]: 7 };
    const described = await kafka.describeConfigs({ includeSynonyms: false, resources: Object.keys(topics).map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] })) });
    const days = Object.fromEntries(described.resources.map((r) => [r.resourceName, Number(r.configEntries[0]!.configValue) / 86_400_000]));
    expect(days).toEqual(topics);
  } finally {
    const provisioned = allTopics(loadConfig({ ...process.env, TOPIC_PREFIX: prefix }).topics);
    await deleteTopics(createKafka(harness.config.kafka, createLogger('silent'), `provision-clean-${id}`), provisioned);
    await deleteSubjects(harness.config.schemaRegistryUrl, provisioned);
    await kafka.disconnect();
  }
}, 60_000);
