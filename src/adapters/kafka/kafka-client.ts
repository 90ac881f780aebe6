// The only module that builds kafkajs clients, so the client library could be swapped here.
import { ConfigResourceTypes, Kafka, logLevel, type Admin, type Producer as KafkaProducer, type Consumer, type LogEntry, type KafkaConfig, type SASLOptions } from 'kafkajs';
import { keyPartitioner } from './key-partitioner';
import type { Config } from '../../libraries/config';
import { AppError, NotProvisionedError, TransientError, errorMessage } from '../../libraries/errors';
import type { Logger } from '../../libraries/logger';
import { pollUntil } from '../../libraries/retry';

export type { Admin, Consumer };

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** `retries`: how often a failed request or connection is tried again (0: one attempt only). */
export function createKafka(config: Config['kafka'], logger: Logger, clientId = config.clientId, retries = 8): Kafka {
  return new Kafka({
    clientId,
    brokers: config.brokers,
    ...securityOptions(config),
    connectionTimeout: 3000,
    retry: { initialRetryTime: 200, retries, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...fields } = log;
        // The coordinator is briefly unavailable while a group forms; that is not news.
        if (/group coordinator is not available/i.test(String(fields.error ?? ''))) return;
        // What a group and a cluster do in normal operation (a rebalance, a leader moving, a topic
        // another worker just created) kafkajs reports as errors: they are not, and must not page anyone.
        const routine = level === logLevel.ERROR && ROUTINE.test(`${message} ${String(fields.error ?? '')}`);
        logger[routine ? 'info' : (LEVELS[level] ?? 'info')]({ kafkajs: fields }, message);
      },
  });
}

/** kafkajs errors that are part of normal operation. */
const ROUTINE = /rebalanc|rejoin is needed|not the leader|leader not available|leadership election|already exists|coordinator is loading|not coordinator|unknown member id/i;

/** kafkajs's TLS and SASL options from the configuration (neither: plaintext). */
function securityOptions({ ssl, sasl }: Config['kafka']): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  return {
    ssl: ssl && { ca: ssl.ca, cert: ssl.cert, key: ssl.key, passphrase: ssl.keyPassword },
    // Our mechanism names are kafkajs's; its type spells each mechanism as a separate case.
    sasl: sasl && ({ mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as SASLOptions),
  };
}

/**
 * TLS failures no retry can mend: the broker refused our certificate (or has none from us), we
 * refused its certificate, or the two sides share no protocol (TLS to a plaintext port, say).
 */
const TLS_REFUSAL = /^(ERR_SSL_|ERR_TLS_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_SELF_SIGNED|CERT_)/;

/** The broker refused who we are (SASL credentials, a TLS certificate): an AppError saying so, or undefined. */
export function brokerRefusal(error: unknown): AppError | undefined {
  type Failure = { name?: unknown; code?: unknown; message?: unknown; broker?: unknown; cause?: unknown };
  for (let e = error as Failure | undefined; e; e = e.cause as Failure | undefined) {
    const at = typeof e.broker === 'string' ? ` at ${e.broker}` : '';
    if (e.name === 'KafkaJSSASLAuthenticationError') {
      return refused(`the broker${at} refused the SASL login (${String(e.message)}); check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`, error);
    }
    if (typeof e.code === 'string' && TLS_REFUSAL.test(e.code)) {
      // OpenSSL's text names its source file; its reason is the part worth reading.
      const text = String(e.message).replace(/^Connection error: /, '');
      const reason = /SSL routines:[^:]*:([^:]+):/.exec(text)?.[1] ?? text;
      return refused(`TLS with the broker${at} failed (${e.code}: ${reason.trim()}); check KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE`, error);
    }
  }
  return undefined;
}

const refused = (message: string, cause: unknown): AppError => new AppError('BROKER_REFUSED', message.replace(/\s+/g, ' '), false, {}, { cause });

/**
 * One connection attempt, before the clients that retry, so that a broker refusing who we are ends
 * start-up at once with one line. kafkajs gives up on a refused SASL login by itself, but counts a
 * refused TLS certificate as a connection error and retries it for about 20 s, logging each try.
 * Any other failure (a broker still starting) is left to those clients and their retries.
 */
export async function checkBrokerAccepts(config: Config['kafka'], logger: Logger): Promise<void> {
  if (!config.ssl && !config.sasl) return;
  await probeBroker(config, logger).catch((error: unknown) => {
    if (!(error instanceof TransientError)) throw error;
  });
}

/**
 * One quiet attempt to reach the brokers (start-up waits with its own progress lines, not
 * kafkajs's retries): a broker that refuses who we are is BROKER_REFUSED, at once; one that does
 * not answer is transient.
 */
export async function probeBroker(config: Config['kafka'], logger: Logger): Promise<void> {
  const admin = createKafka(config, logger.child({}, { level: 'silent' }), config.clientId, 0).admin();
  try {
    await admin.connect();
  } catch (error) {
    throw brokerRefusal(error) ?? new TransientError('BROKER_UNAVAILABLE', `the brokers do not answer: ${errorMessage(error)}`, {}, { cause: error });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export interface KafkaClients {
  kafka: Kafka;
  admin: Admin;
  producer: Producer;
  stop(): Promise<void>;
}

/** The worker's admin client and producer, with its topics created (or, with KAFKA_CREATE_TOPICS=false, found). */
export async function startKafkaClients(config: Config['kafka'], topics: TopicSpec[], logger: Logger): Promise<KafkaClients> {
  const kafka = createKafka(config, logger);
  const admin = kafka.admin();
  const producer = createProducer(kafka);
  const stop = async (): Promise<void> => {
    await Promise.all([producer.disconnect(), admin.disconnect()]);
  };
  try {
    await checkBrokerAccepts(config, logger);
    await admin.connect();
    await ensureTopics(admin, topics, config.partitions, config.replicationFactor, { create: config.createTopics });
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

/** What our code needs of a producer (so the idempotent one below can stand in for kafkajs's). */
export type Producer = Pick<KafkaProducer, 'connect' | 'disconnect' | 'send' | 'sendBatch'>;

/**
 * A producer that keeps per-key order (one request in flight), waits for all in-sync replicas,
 * and is idempotent: when kafkajs retries a send whose answer was lost (a broker restart), the
 * broker drops the batch it already has, so retries leave no copies. kafkajs marks this mode
 * experimental, and its sequence numbers are ours to protect: a failed attempt hands its numbers
 * back for the retry, and any other batch that took them in between could be taken by the broker
 * for a copy of a batch it already wrote, and dropped. So sends go through one at a time, and
 * after a send fails for good the next one goes through a new kafkajs producer (a new producer
 * id). A copy can still come from a process that dies between publishing and marking: consumers
 * dedupe on eventId.
 */
export function createProducer(kafka: Kafka): Producer {
  let current: KafkaProducer | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  };
  const connected = async (): Promise<KafkaProducer> => {
    if (current) return current;
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: keyPartitioner });
    try {
      await producer.connect();
    } catch (error) {
      void producer.disconnect().catch(() => undefined);
      throw error;
    }
    return (current = producer);
  };
  const sending = <T>(send: (producer: KafkaProducer) => Promise<T>): Promise<T> =>
    oneAtATime(async () => {
      const producer = await connected();
      try {
        return await send(producer);
      } catch (error) {
        current = undefined;
        void producer.disconnect().catch(() => undefined);
        throw error;
      }
    });
  return {
    connect: () => oneAtATime(async () => void (await connected())),
    disconnect: () =>
      oneAtATime(async () => {
        const producer = current;
        current = undefined;
        await producer?.disconnect();
      }),
    send: (record) => sending((producer) => producer.send(record)),
    sendBatch: (batch) => sending((producer) => producer.sendBatch(batch)),
  };
}

/**
 * A consumer that watches topics (the demo, the CLI, tests): it fetches at least every 500 ms,
 * so it starts reading and stops without waiting out kafkajs's 5 s idle fetch.
 */
export function createWatcher(kafka: Kafka, groupId: string): Consumer {
  return kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
}

/** A topic, and how long it keeps its messages (set when it is created). */
export interface TopicSpec {
  topic: string;
  retentionMs?: number;
}

/**
 * Creates missing topics (the broker's auto-creation is off by design), with their retention,
 * and waits until every partition has a leader: a just-started broker can take a while, and
 * producing before then fails. With `create: false` a missing topic refuses start-up instead.
 */
export async function ensureTopics(admin: Admin, specs: Array<string | TopicSpec>, partitions: number, replicationFactor: number, { create = true, timeoutMs = 60_000 } = {}): Promise<void> {
  const wanted = specs.map((s) => (typeof s === 'string' ? { topic: s } : s));
  const topics = wanted.map((s) => s.topic);
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((s) => !existing.has(s.topic));
  if (missing.length > 0 && !create) {
    throw new NotProvisionedError(`topics missing (KAFKA_CREATE_TOPICS=false, so they must be created beforehand): ${missing.map((s) => s.topic).join(', ')}`);
  }
  let creationError: unknown;
  if (missing.length > 0) {
    // kafkajs's own wait for leaders gives up when a new topic is not yet in the broker's metadata
    // cache (as happens on a fresh KRaft broker), so wait below instead.
    const topicsToCreate = missing.map(({ topic, retentionMs }) => ({
      topic,
      numPartitions: partitions,
      replicationFactor,
      configEntries: retentionMs === undefined ? [] : [{ name: 'retention.ms', value: String(retentionMs) }],
    }));
    await admin.createTopics({ waitForLeaders: false, timeout: timeoutMs, topics: topicsToCreate }).catch((error: unknown) => (creationError = error)); // another instance may have just created them
  }
  await pollUntil(
    () => admin.fetchTopicMetadata({ topics }),
    (metadata) => metadata.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)),
    { timeoutMs, intervalMs: 200, what: `partition leaders of ${topics.join(', ')}` },
  ).catch((error: unknown) => {
    throw creationError ?? error;
  });
}

/** Kafka's default largest record batch (message.max.bytes). */
export const BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/** The largest record batch a topic accepts (its max.message.bytes, or the broker's default). */
export async function topicMaxMessageBytes(admin: Admin, topic: string): Promise<number> {
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }] });
  const value = Number(described.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
  return Number.isInteger(value) && value > 0 ? value : BROKER_DEFAULT_MAX_MESSAGE_BYTES;
}

/** Refusals of what a produce request holds, not of the producer or the broker's state. */
const RECORD_REFUSALS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'CORRUPT_MESSAGE', 'INVALID_RECORD', 'INVALID_TIMESTAMP']);

/** Whether the broker refused a send for the records in it (so one of them is at fault), however kafkajs wrapped it. */
export function isRecordRefusal(error: unknown): boolean {
  for (let e = error as { type?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.type === 'string' && RECORD_REFUSALS.has(e.type)) return true;
  }
  return false;
}
