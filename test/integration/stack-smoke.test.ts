// The real stack answers: Avro through the registry and the broker, migrations in Postgres,
// email through SMTP into the inbox.
import { randomUUID } from 'node:crypto';
import { createKafka, createProducer, createWatcher } from '../../src/adapters/kafka/kafka-client';
import { AvroCodec } from '../../src/adapters/schema-registry/avro-codec';
import { SmtpMailer } from '../../src/adapters/email/smtp-mailer';
import { createDataSource, migrate } from '../../src/data-access/data-source';
import { loadConfig } from '../../src/libraries/config';
import { createLogger } from '../../src/libraries/logger';
import type { ApprovalDecision } from '../../src/domain/card-operation';
import { messageIdOf, waitForEmails } from '../support/inbox';
import { createTopics } from '../support/topics';

const config = loadConfig();
const logger = createLogger('silent');

test('when an Avro message is produced through the registry, then a consumer reads and decodes it back', async () => {
  const topic = `smoke-${randomUUID()}`;
  const codec = new AvroCodec(config.schemaRegistryUrl);
  const schemaId = await codec.register(`${topic}-value`, 'approval-decision');
  // Registering the same schema again is idempotent (same id), on this registry too.
  expect(await codec.register(`${topic}-value`, 'approval-decision')).toBe(schemaId);

  const kafka = createKafka(config.kafka, logger, 'smoke');
  await createTopics(kafka, [topic], 1);

  const decision: ApprovalDecision = {
    decisionId: randomUUID(),
    requestId: randomUUID(),
    decision: 'APPROVED',
    actingAs: 'APPROVER',
    approver: { id: 'a1', name: 'Ann Approver', email: 'ann@example.com', locale: null },
    reason: null,
    decidedAt: Date.now(),
    cardOutcomes: [],
    reassign: null,
  };
  const producer = createProducer(kafka);
  await producer.connect();
  await producer.send({ topic, messages: [{ key: decision.requestId, value: await codec.encode(schemaId, decision) }] });
  await producer.disconnect();

  const consumer = createWatcher(kafka, `smoke-${randomUUID()}`);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const received = await new Promise<ApprovalDecision>((resolve, reject) => {
    consumer.run({ eachMessage: async ({ message }) => resolve(await codec.decode<ApprovalDecision>(message.value, 'approval-decision')) }).catch(reject);
  });
  await consumer.disconnect();
  expect({ ...received }).toEqual(decision);
});

test('when migrations run, then the approval tables exist and a second run has nothing to do', async () => {
  const dataSource = await createDataSource(config.databaseUrl, 2).initialize();
  try {
    await migrate(dataSource);
    expect(await migrate(dataSource)).toEqual([]);
    const tables: Array<{ table_name: string }> = await dataSource.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['approval_decisions', 'approval_events', 'approval_requests', 'email_outbox']),
    );
  } finally {
    await dataSource.destroy();
  }
});

test('when an email is sent with nodemailer, then the SMTP inbox holds it with our Message-ID', async () => {
  const to = `smoke-${randomUUID()}@example.com`;
  const messageId = `<${randomUUID()}@card-approvals.test>`;
  const mailer = new SmtpMailer(config.smtp.url, config.smtp.from, 1, config.smtp.sendTimeoutMs);
  try {
    await mailer.send({ to, subject: 'Smoke test', html: '<p>hello</p>', text: 'hello', messageId, locale: 'en' });
  } finally {
    mailer.close();
  }
  const [email] = await waitForEmails(to, 1);
  expect(email!.subject).toBe('Smoke test');
  expect(messageIdOf(email!)).toBe(messageId);
});
