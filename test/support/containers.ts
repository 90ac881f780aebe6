// The same stack as the local one, from container images, for machines with a Docker engine.
// Host ports are the local stack's defaults so the broker's advertised address holds.
import { GenericContainer, Wait, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import type { StackEndpoints } from '../stack/local-stack';

export async function dockerAnswers(): Promise<boolean> {
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export async function startContainers(): Promise<{ endpoints: StackEndpoints; stop: () => Promise<void> }> {
  const kafka = new GenericContainer('apache/kafka:4.1.1')
    .withExposedPorts({ container: 9092, host: 9092 })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093',
      KAFKA_ADVERTISED_LISTENERS: 'PLAINTEXT://127.0.0.1:9092',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .start();
  const registry = new GenericContainer('apicurio/apicurio-registry:3.0.9')
    .withExposedPorts({ container: 8080, host: 8081 })
    .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080))
    .start();
  const postgres = new GenericContainer('postgres:16-alpine')
    .withExposedPorts(5432)
    .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_DB: 'card_approvals_test' })
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const smtp = new GenericContainer('node:24.21.0-alpine')
    .withCommand(['npx', '-y', 'maildev@3.0.0', '--smtp', '1025', '--web', '1080'])
    .withExposedPorts(1025, 1080)
    .withWaitStrategy(Wait.forHttp('/api/healthz', 1080))
    .start();
  const started: StartedTestContainer[] = await Promise.all([kafka, registry, postgres, smtp]);
  const [, , pg, mail] = started as [StartedTestContainer, StartedTestContainer, StartedTestContainer, StartedTestContainer];
  return {
    endpoints: {
      KAFKA_BROKERS: '127.0.0.1:9092',
      SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081/apis/ccompat/v7',
      DATABASE_URL: `postgres://postgres@${pg.getHost()}:${pg.getMappedPort(5432)}/card_approvals_test`,
      SMTP_URL: `smtp://${mail.getHost()}:${mail.getMappedPort(1025)}`,
      SMTP_INBOX_URL: `http://${mail.getHost()}:${mail.getMappedPort(1080)}`,
    },
    stop: async () => {
      await Promise.allSettled(started.map((c) => c.stop()));
    },
  };
}
