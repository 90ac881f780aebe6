// The only module that builds kafkajs clients, so the client library could be swapped here.
import { Kafka, Partitioners, logLevel, type Admin, type Producer, type Consumer, type LogEntry } from 'kafkajs';
import type { Config } from '../../libraries/config';
import type { Logger } from '../../libraries/logger';
import { pollUntil } from '../../libraries/retry';

export type { Admin, Producer, Consumer };

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafka(config: Config['kafka'], logger: Logger, clientId = config.clientId): Kafka {
  return new Kafka({
    clientId,
    brokers: config.brokers,
    connectionTimeout: 3000,
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...fields } = log;
        // The coordinator is briefly unavailable while a group forms; that is not news.
        if (/group coordinator is not available/i.test(String(fields.error ?? ''))) return;
        logger[LEVELS[level] ?? 'info']({ kafkajs: fields }, message);
      },
  });
}

export interface KafkaClients {
  kafka: Kafka;
  admin: Admin;
  producer: Producer;
  stop(): Promise<void>;
}

/** The worker's admin client and producer, with its topics created. */
export async function startKafkaClients(config: Config['kafka'], topics: string[], logger: Logger): Promise<KafkaClients> {
  const kafka = createKafka(config, logger);
  const admin = kafka.admin();
  const producer = createProducer(kafka);
  const stop = async (): Promise<void> => {
    await Promise.all([producer.disconnect(), admin.disconnect()]);
  };
  try {
    await admin.connect();
    await ensureTopics(admin, topics, config.partitions, config.replicationFactor);
    await producer.connect();
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return { kafka, admin, producer, stop };
}

/** Messages of the group's topics not yet committed, per partition. */
export async function consumerLag(admin: Admin, groupId: string, topics: string[]): Promise<Array<{ topic: string; partition: number; lag: number }>> {
  const committed = await admin.fetchOffsets({ groupId, topics });
  const lags = await Promise.all(
    committed.map(async ({ topic, partitions }) => {
      const ends = await admin.fetchTopicOffsets(topic);
      return ends.map((end) => {
        const offset = Number(partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
        const from = offset >= 0 ? offset : Number(end.low);
        return { topic, partition: end.partition, lag: Math.max(0, Number(end.high) - from) };
      });
    }),
  );
  return lags.flat();
}

/**
 * A producer that keeps per-key order (one request in flight) and waits for all in-sync replicas.
 * Not kafkajs's experimental idempotent mode: consumers dedupe on eventId instead.
 */
export function createProducer(kafka: Kafka): Producer {
  return kafka.producer({ maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
}

/**
 * A consumer that watches topics (the demo, the CLI, tests): it fetches at least every 500 ms,
 * so it starts reading and stops without waiting out kafkajs's 5 s idle fetch.
 */
export function createWatcher(kafka: Kafka, groupId: string): Consumer {
  return kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
}

/**
 * Creates missing topics (the broker's auto-creation is off by design) and waits until every
 * partition has a leader: a just-started broker can take a while, and producing before then fails.
 */
export async function ensureTopics(admin: Admin, topics: string[], partitions: number, replicationFactor: number, timeoutMs = 60_000): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t));
  let creationError: unknown;
  if (missing.length > 0) {
    // kafkajs's own wait for leaders gives up when a new topic is not yet in the broker's metadata
    // cache (as happens on a fresh KRaft broker), so wait below instead.
    await admin
      .createTopics({ waitForLeaders: false, timeout: timeoutMs, topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor })) })
      .catch((error: unknown) => (creationError = error)); // another instance may have just created them
  }
  await pollUntil(
    () => admin.fetchTopicMetadata({ topics }),
    (metadata) => metadata.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)),
    { timeoutMs, intervalMs: 200, what: `partition leaders of ${topics.join(', ')}` },
  ).catch((error: unknown) => {
    throw creationError ?? error;
  });
}
