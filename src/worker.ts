// Wires the worker's components and returns one stop function that shuts them down in reverse
// order. Used by main.ts, the demo and the integration tests (which run it in-process).
import { setTimeout } from 'node:timers/promises';
import { EmailRenderer } from './adapters/email/render-email';
import { SmtpMailer } from './adapters/email/smtp-mailer';
import { consumerLag, createKafka, createProducer, ensureTopics } from './adapters/kafka/kafka-client';
import { AvroCodec } from './adapters/schema-registry/avro-codec';
import { ApprovalStore } from './data-access/approval-store';
import { createDataSource, migrate } from './data-access/data-source';
import { OutboxStore } from './data-access/outbox-store';
import { startApprovalConsumer } from './entry-points/kafka/approval-consumer';
import { emailRelayRound } from './entry-points/relays/email-relay';
import { createEventRelay } from './entry-points/relays/event-relay';
import { startRelayLoop } from './entry-points/relays/relay-loop';
import { allTopics, type Config } from './libraries/config';
import { TransientError, describe } from './libraries/errors';
import type { Logger } from './libraries/logger';
import { createMetrics } from './libraries/metrics';
import { OperationalQueries } from './data-access/operational-queries';
import { startHttpServer } from './entry-points/http/http-server';
import { createAuthenticator, mintLocalToken } from './entry-points/http/auth';
import { ApprovalQueries } from './data-access/approval-queries';

export interface RunningWorker {
  stop(): Promise<void>;
  /** The port of the health/metrics server (HTTP_PORT=0 picks a free one). */
  httpPort: number;
  /** Resolves if the consumer crashed for good; main exits then rather than live on as a zombie. */
  crashed: Promise<Error>;
}

/** Start-up waits out a dependency that is briefly away (a restart, an outage) instead of exiting. */
async function untilAvailable<T>(what: string, attempt: () => Promise<T>, logger: Logger, signal?: AbortSignal, giveUpAfterMs = 5 * 60_000): Promise<T> {
  const deadline = Date.now() + giveUpAfterMs;
  for (let tries = 1; ; tries += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof TransientError) || Date.now() > deadline) throw error;
      logger.warn({ dependency: what, tries, err: describe(error) }, `${what} unavailable at start-up; retrying`);
      await setTimeout(Math.min(5000, 250 * 2 ** tries), undefined, { signal });
    }
  }
}

/**
 * Starts the worker. When `signal` aborts during start-up, the step in hand finishes, what was
 * started is stopped, and the call rejects with the signal's reason.
 */
export async function startWorker(config: Config, logger: Logger, signal?: AbortSignal): Promise<RunningWorker> {
  const stops: Array<{ name: string; stop: () => Promise<unknown> | unknown }> = [];
  // Reverse start order; a second call (signal during a crash exit) waits for the first.
  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const { name, stop } of [...stops].reverse()) {
        await Promise.resolve()
          .then(stop)
          .catch((error: unknown) => logger.warn({ component: name, err: describe(error) }, 'stop failed'));
      }
    })());

  // Each step of start-up begins here: a stop requested meanwhile undoes what was started.
  const step = (name: string): void => {
    signal?.throwIfAborted();
    logger.debug({ step: name }, 'start-up step');
  };
  try {
    step('database');
    const dataSource = await createDataSource(config.databaseUrl).initialize();
    stops.push({ name: 'database', stop: () => dataSource.destroy() });
    const applied = await migrate(dataSource);
    step('schema registry');
    if (applied.length) logger.info({ migrations: applied }, 'database migrated');

    const codec = new AvroCodec(config.schemaRegistryUrl);
    const eventSchemaId = await untilAvailable('schema registry', () => codec.register(`${config.topics.events}-value`, 'approval-event'), logger, signal);

    step('topics');
    const kafka = createKafka(config.kafka, logger.child({ component: 'kafka' }));
    const admin = kafka.admin();
    await admin.connect();
    stops.push({ name: 'admin', stop: () => admin.disconnect() });
    await ensureTopics(admin, allTopics(config.topics), config.kafka.partitions, config.kafka.replicationFactor);
    step('producer');
    const metrics = createMetrics();

    const producer = createProducer(kafka);
    await producer.connect();
    stops.push({ name: 'producer', stop: () => producer.disconnect() });
    step('relays');

    const outbox = new OutboxStore(dataSource);
    const mailer = new SmtpMailer(config.smtp.url, config.smtp.from, config.smtp.maxConnections);
    stops.push({ name: 'smtp', stop: () => mailer.close() });
    const events = createEventRelay({ outbox, producer, codec, eventSchemaId, topic: config.topics.events, metrics, leaseMs: config.outboxLeaseMs, logger: logger.child({ component: 'event-relay' }) });
    const eventRelay = startRelayLoop('events', events.round, logger);
    stops.push({
      name: 'event relay',
      stop: async () => {
        await eventRelay.stop();
        await events.releaseHandedOver();
      },
    });
    const emailRelay = startRelayLoop(
      'emails',
      emailRelayRound({
        outbox,
        mailer,
        metrics,
        leaseMs: config.outboxLeaseMs,
        renderer: new EmailRenderer(config.operatorUrl),
        logger: logger.child({ component: 'email-relay' }),
      }),
      logger,
    );
    stops.push({ name: 'email relay', stop: () => emailRelay.stop() });

    const store = new ApprovalStore(dataSource, config.smtp.messageIdDomain, config.outboxLeaseMs);
    const expiry = startRelayLoop(
      'unknown-request expiry',
      async () => {
        const refused = await store.refuseExpiredDecisions(config.unknownRequestWindowMs);
        for (const t of refused) logger.info({ requestId: t.event.requestId, decisionId: t.event.decision?.decisionId, eventId: t.event.eventId }, 'decision refused: UNKNOWN_REQUEST');
        if (refused.length) eventRelay.kick();
        return refused.length;
      },
      logger,
      { pollMs: Math.min(5000, config.unknownRequestWindowMs / 2) },
    );
    stops.push({ name: 'expiry', stop: () => expiry.stop() });

    step('consumer');
    const consumer = kafka.consumer({
      groupId: config.kafka.groupId,
      sessionTimeout: config.kafka.sessionTimeoutMs,
      heartbeatInterval: Math.max(500, Math.floor(config.kafka.sessionTimeoutMs / 10)),
      allowAutoTopicCreation: false,
      // Bounded fetches keep memory flat with many partitions in flight (a transaction takes at
      // most 500 messages anyway); kafkajs's defaults would buffer up to 10 MB per fetch.
      maxBytesPerPartition: 256 * 1024,
      maxBytes: 2 * 1024 * 1024,
      // A stop waits for the fetch in flight; an idle fetch then holds it 1 s rather than 5 s.
      maxWaitTimeInMs: 1000,
    });
    // Joins are logged so operators (and the fault tests) can tell a rebalance storm from a quiet group.
    let inGroup = false;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      inGroup = true;
      logger.info({ component: 'consumer', memberId: payload.memberId, assignment: payload.memberAssignment }, 'consumer joined group');
    });
    for (const leave of [consumer.events.REBALANCING, consumer.events.STOP, consumer.events.CRASH]) consumer.on(leave, () => (inGroup = false));
    const crashed = new Promise<Error>((resolve) => {
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (!payload.restart) resolve(payload.error);
      });
    });
    await consumer.connect();
    // The consumer stops first: it drains the batch in hand and commits, then the relays flush.
    stops.push({ name: 'consumer', stop: () => consumer.disconnect() });
    step('group join');
    await startApprovalConsumer({
      config,
      consumer,
      producer,
      codec,
      store,
      logger: logger.child({ component: 'consumer' }),
      metrics,
      onApplied: (publishNow) => {
        events.handOver(publishNow);
        eventRelay.kick();
        emailRelay.kick();
      },
    });

    const queries = new OperationalQueries(dataSource);
    const consumedTopics = [...Object.values(config.topics.requests), config.topics.decisions];
    metrics.useProbes({
      outboxBacklog: () => queries.outboxBacklog(),
      pendingApprovals: () => queries.pendingApprovals(),
      consumerLag: () => consumerLag(admin, config.kafka.groupId, consumedTopics),
    });
    const decisionSchemaId = await codec.register(`${config.topics.decisions}-value`, 'approval-decision');
    step('http');
    const server = await startHttpServer({
      host: config.http.host,
      port: config.http.port,
      metrics,
      logger,
      api: {
        authenticate: createAuthenticator(config.auth),
        signInLocally: config.auth.localSignIn ? (identity) => mintLocalToken(config.auth, identity) : undefined,
        queries: new ApprovalQueries(dataSource),
        publishDecision: async (decision) => {
          const value = await codec.encode(decisionSchemaId, decision);
          await producer.send({ topic: config.topics.decisions, acks: -1, messages: [{ key: decision.requestId, value }] });
          logger.info({ requestId: decision.requestId, decisionId: decision.decisionId, decision: decision.decision }, 'decision published by the API');
        },
      },
      checks: {
        database: () => queries.ping(),
        broker: async () => void (await admin.describeCluster()),
        registry: () => codec.ping(),
        consumer: async () => {
          if (!inGroup) throw new Error('the consumer is not in its group');
        },
      },
    });
    // First to stop: a draining worker is no longer ready.
    stops.push({ name: 'http', stop: () => server.stop() });
    step('running');
    logger.info({ topics: allTopics(config.topics), groupId: config.kafka.groupId, httpPort: server.port }, 'worker started');
    return { stop: stopAll, crashed, httpPort: server.port };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
