// The provisioning command, for workers that run without the rights to provision
// (KAFKA_CREATE_TOPICS=false, SCHEMA_REGISTRY_REGISTER=false): creates the worker's topics with
// their partitions, replication factor and retention, and registers its schemas (requests and
// decisions as the contract upstream writes, events as the worker writes them), each subject
// with its compatibility. Run with the rights the worker lacks, from a production install:
// `node dist/entry-points/cli/provision.js`. Running it again changes nothing.
import { createKafka, ensureTopics } from '../../adapters/kafka/kafka-client';
import { AvroCodec } from '../../adapters/schema-registry/avro-codec';
import { ConfigError, loadConfig, topicSpecs } from '../../libraries/config';
import { errorMessage } from '../../libraries/errors';
import { createLogger } from '../../libraries/logger';

async function main(): Promise<void> {
  // In production it needs the broker, the registry and the replication factor; no database or SMTP credentials.
  const config = loadConfig(process.env, ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'TOPIC_REPLICATION_FACTOR']);
  const admin = createKafka(config.kafka, createLogger('warn')).admin();
  await admin.connect();
  try {
    const topics = topicSpecs(config);
    await ensureTopics(admin, topics, config.kafka.partitions, config.kafka.replicationFactor);
    console.log(`topics: ${topics.map((t) => t.topic).join(', ')}`);
  } finally {
    await admin.disconnect();
  }
  const codec = new AvroCodec(config.schemaRegistryUrl);
  const subjects = [
    ...Object.values(config.topics.requests).map((topic) => [`${topic}-value`, 'card-operation-request'] as const),
    [`${config.topics.decisions}-value`, 'approval-decision'] as const,
    [`${config.topics.events}-value`, 'approval-event'] as const,
  ];
  for (const [subject, schema] of subjects) console.log(`schema ${schema} under ${subject}: id ${await codec.register(subject, schema)}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `provision: ${errorMessage(error)}`);
  process.exit(1);
});
