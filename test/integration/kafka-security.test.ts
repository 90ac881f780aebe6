// The worker reaches brokers that want SASL or TLS. Each kind runs against a broker of this file's
// own (SASL_PLAINTEXT with SCRAM-SHA-256 and the authorizer on; SSL that requires a client
// certificate from the test's CA), beside the shared registry, database and SMTP server: a request
// goes through end to end (on the SCRAM broker with exactly the ACLs docs/kafka-acls.md lists),
// and a worker whose credentials the broker refuses ends its start-up at once with one line.
import { aclEntries, workerAcls } from '../../src/adapters/kafka/acls';
import { createKafka } from '../../src/adapters/kafka/kafka-client';
import { loadConfig } from '../../src/libraries/config';
import { createLogger } from '../../src/libraries/logger';
import { aDecision, aRequest } from '../support/builders';
import { ensureBuilt } from '../support/build';
import { startSecuredBroker, type ListenerKind, type SecuredBroker } from '../support/secured-broker';
import { startHarness, type Harness } from '../support/test-worker';
import { startWorkerProcess } from '../support/worker-process';

const brokers = new Map<ListenerKind, SecuredBroker>();

beforeAll(async () => {
  const started = await Promise.allSettled(
    (['scram-acl', 'tls'] as const).map(async (kind) => brokers.set(kind, await startSecuredBroker(kind))),
  );
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  await ensureBuilt();
}, 240_000);

afterAll(async () => {
  await Promise.all([...brokers.values()].map((broker) => broker.stop()));
});

/** Settings that replace the accepted ones, which the broker (or, for its certificate, the worker) refuses. */
const refusals: Record<Exclude<ListenerKind, 'scram'>, Array<[string, (broker: SecuredBroker) => Record<string, string>, RegExp]>> = {
  'scram-acl': [['a wrong SCRAM password', () => ({ KAFKA_SASL_PASSWORD: 'not-the-password' }), /the broker refused the SASL login \(.*invalid credentials.*\)/]],
  tls: [
    ['no client certificate', () => ({ KAFKA_SSL_CERT_FILE: '', KAFKA_SSL_KEY_FILE: '', KAFKA_SSL_KEY_PASSWORD: '' }), /TLS with the broker at 127\.0\.0\.1:\d+ failed \(ERR_SSL_[\w/]+: .*\)/],
    [
      'a client certificate from a CA the broker does not trust',
      (broker) => ({ KAFKA_SSL_CERT_FILE: broker.certificates!.stranger.cert, KAFKA_SSL_KEY_FILE: broker.certificates!.stranger.key, KAFKA_SSL_KEY_PASSWORD: '' }),
      /TLS with the broker at 127\.0\.0\.1:\d+ failed \(ERR_SSL_[\w/]+: .*\)/,
    ],
    // The worker checks the broker too: a broker whose certificate its CA did not sign is refused.
    ['a CA that did not sign the broker\'s certificate', (broker) => ({ KAFKA_SSL_CA_FILE: broker.certificates!.otherCa }), /TLS with the broker at 127\.0\.0\.1:\d+ failed \(UNABLE_TO_\w+: .*\)/],
  ],
};

describe.each(['scram-acl', 'tls'] as const)('a broker with %s', (kind) => {
  let harness: Harness;
  /** The worker's own settings: on the authorizing broker, its user (the harness's clients are the admin's). */
  let worker: Record<string, string> = {};
  beforeAll(async () => {
    const broker = brokers.get(kind)!;
    // The harness's own clients (topic admin, producer, events observer) use the same settings, or the super user's.
    harness = await startHarness(broker.adminEnv ?? broker.env);
    if (!broker.adminEnv) return;
    // Exactly the documented grants, and no more: the worker's topics exist (the harness made them).
    worker = { ...broker.env, KAFKA_CREATE_TOPICS: 'false' };
    const grants = workerAcls(loadConfig({ ...process.env, ...harness.env, ...worker }));
    const admin = createKafka(harness.config.kafka, createLogger('silent'), 'acl-admin').admin();
    await admin.connect();
    try {
      await admin.createAcls({ acl: aclEntries(grants, `User:${broker.env.KAFKA_SASL_USERNAME}`) });
    } finally {
      await admin.disconnect();
    }
  });
  afterAll(async () => {
    await harness?.stop();
  });

  test('when the worker has the credentials it accepts (and on the authorizing broker only the documented ACLs), then a request opens a record, its events are published and a bad message is dead-lettered', async () => {
    await harness.startWorker(worker);
    const request = aRequest('LOCK_CARD');
    await harness.publishRequest(request, aDecision(request, 'APPROVED'));

    const events = await harness.waitForEvents(request.requestId, 2);
    expect(events.map((e) => e.type)).toEqual(['OPENED', 'APPROVED']);
    expect(await harness.record(request.requestId)).toMatchObject({ status: 'APPROVED', operation: 'LOCK_CARD' });
    await harness.publishRaw(harness.config.topics.requests.LOCK_CARD, 'not-avro', Buffer.from('not avro at all'));
    expect((await harness.waitForDeadLetter((d) => d.key === 'not-avro')).headers['dlq.reason']).toBe('UNDECODABLE');
  });

  test.each(refusals[kind])('when the worker process starts with %s, then it exits 1 at start-up with one line saying why', async (_, credentials, reason) => {
    const worker = startWorkerProcess({ ...harness.env, ...credentials(brokers.get(kind)!) });
    expect(await worker.exited).toEqual({ code: 1, signal: null });
    // One error line, the last: kafkajs did not retry (each retry would log one).
    const errors = worker
      .output()
      .trim()
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line));
    expect(errors).toHaveLength(1);
    const fatal = JSON.parse(errors[0]!) as { msg: string; err: { code: string; message: string } };
    expect(fatal).toMatchObject({ msg: 'worker failed to start', err: { code: 'BROKER_REFUSED' } });
    expect(fatal.err.message).toMatch(reason);
  });
});
