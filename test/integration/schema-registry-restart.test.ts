// The registry keeps its schemas in Postgres: a restart keeps every schema id, so messages already
// in Kafka still decode. The test runs a registry of its own (its own ports and database), so the
// shared one is not disturbed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createKafka, createProducer, createWatcher } from '../../src/adapters/kafka/kafka-client';
import { AvroCodec } from '../../src/adapters/schema-registry/avro-codec';
import { findJava } from '../stack/local-stack';
import { dropDatabase } from '../stack/postgres';
import { SERVICES, stopDaemon } from '../stack/processes';
import { CCOMPAT_PATH, startSchemaRegistry, type SchemaRegistryOptions } from '../stack/schema-registry';
import type { CardOperationRequest } from '../../src/domain/card-operation';
import { loadStackConfig } from '../stack/stack-config';
import { createLogger } from '../../src/libraries/logger';
import { aRequest } from '../support/builders';
import { freePort } from '../support/ports';
import { createTopics } from '../support/topics';

const config = loadStackConfig();
const run = randomUUID().slice(0, 8);
let registry: SchemaRegistryOptions;
let java: string;

beforeAll(async () => {
  const databaseUrl = new URL(config.databaseUrl);
  databaseUrl.pathname = `/card_approvals_registry_${run}`;
  registry = {
    home: config.stackHome, // the archive the shared registry runs from
    runDir: fs.mkdtempSync(path.join(os.tmpdir(), `registry-${run}-`)),
    port: await freePort(),
    managementPort: await freePort(),
    databaseUrl: databaseUrl.toString(),
    report: () => undefined,
  };
  java = await findJava(config.javaHome);
});

afterAll(async () => {
  await stopDaemon(path.join(registry.runDir!, SERVICES['schema registry'].pidFile));
  await dropDatabase(registry.databaseUrl);
  fs.rmSync(registry.runDir!, { recursive: true, force: true });
});

test('when the schema registry restarts, then its schema ids stay and a message produced before decodes after', async () => {
  await startSchemaRegistry(registry, java);
  const registryUrl = `http://127.0.0.1:${registry.port}${CCOMPAT_PATH}`;
  const topic = `registry-restart-${run}`;
  const schemaId = await new AvroCodec(registryUrl).register(`${topic}-value`, 'card-operation-request');

  const kafka = createKafka(config.kafka, createLogger('silent'), `registry-restart-${run}`);
  await createTopics(kafka, [topic], 1);
  const request = aRequest('REQUEST_MULTIPLE_CARDS');
  const producer = createProducer(kafka);
  await producer.connect();
  await producer.send({ topic, messages: [{ key: request.requestId, value: await new AvroCodec(registryUrl).encode(schemaId, request) }] });
  await producer.disconnect();

  await stopDaemon(path.join(registry.runDir!, SERVICES['schema registry'].pidFile));
  expect((await startSchemaRegistry(registry, java)).started).toBe(true);

  // A codec that has never seen the schema fetches it by id from the restarted registry; with
  // in-memory storage this id would be unknown now (UNKNOWN_SCHEMA).
  const codec = new AvroCodec(registryUrl);
  const consumer = createWatcher(kafka, `registry-restart-${run}`);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const received = await new Promise<CardOperationRequest>((resolve, reject) => {
    const decode = async (value: Buffer | null): Promise<void> => resolve(await codec.decode<CardOperationRequest>(value, 'card-operation-request'));
    consumer.run({ eachMessage: ({ message }) => decode(message.value).catch(reject) }).catch(reject);
  }).finally(() => consumer.disconnect());
  expect(JSON.parse(JSON.stringify(received))).toEqual(JSON.parse(JSON.stringify(request)));
  expect(await codec.register(`${topic}-value`, 'card-operation-request')).toBe(schemaId);
}, 240_000);
