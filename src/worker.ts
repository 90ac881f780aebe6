// Wires the worker: an ordered list of components, each started with the part of the config it
// needs and returning its stop. They stop in reverse order. Used by main.ts, the demo and the
// integration tests (which run it in-process).
import { randomUUID } from 'node:crypto';
import { decisionPublisher } from './adapters/kafka/decision-publisher';
import { BROKER_DEFAULT_MAX_MESSAGE_BYTES, consumerLag, probeBroker, startKafkaClients, topicMaxMessageBytes, type KafkaClients } from './adapters/kafka/kafka-client';
import { AvroCodec } from './adapters/schema-registry/avro-codec';
import { Delegations } from './data-access/delegations';
import type { ApprovalDecision } from './domain/card-operation';
import { EmailLinkUses } from './data-access/email-link-uses';
import { Retention, retentionPeriods } from './data-access/retention';
import { StateLease } from './data-access/state-lease';
import { IdempotencyKeys } from './data-access/idempotency-keys';
import { decisionLinksFor } from './adapters/email/decision-links';
import { ApprovalQueries } from './data-access/approval-queries';
import { ApprovalStore } from './data-access/approval-store';
import { startDatabase, startReadPool } from './data-access/data-source';
import { EmailOutbox } from './data-access/email-outbox';
import { EventOutbox } from './data-access/event-outbox';
import { OperationalQueries } from './data-access/operational-queries';
import { PersonalDataStore } from './data-access/personal-data';
import type { BatchRules } from './domain/decide-batch';
import { erasePerson } from './domain/erase-person';
import { AuditTrail } from './data-access/audit-trail';
import { expireUnknownDecisions } from './domain/expire-unknown-decisions';
import { handleCardOperationBatch } from './domain/handle-card-operation-batch';
import { createAuthenticator, mintLocalToken, type Identity } from './entry-points/http/auth';
import { startHttpServer, type HttpDeps as ServerDeps } from './entry-points/http/http-server';
import { createOidcSignIn } from './entry-points/http/oidc-sign-in';
import { MAX_TRANSACTION_MESSAGES, startApprovalConsumer, type ApprovalConsumer } from './entry-points/kafka/approval-consumer';
import { startEmailRelayLoop, startEventRelayLoop } from './entry-points/relays/outbox-relays';
import { startRetention } from './entry-points/relays/retention-loop';
import { startRelayLoop } from './entry-points/relays/relay-loop';
import { startTimerLoop } from './entry-points/relays/timer-loop';
import { allTopics, topicSpecs, type Config } from './libraries/config';
import { openAccessLog, type Logger } from './libraries/logger';
import { STATE_LEASE_MS, createMetrics, type Metrics } from './libraries/metrics';
import { untilAvailable } from './libraries/retry';
import { classify, reportDefect } from './libraries/errors';
import { OneClickPages } from './adapters/web/one-click-pages';

/** An API search or read that takes longer than this is cancelled (the caller gets a 500). */
const API_STATEMENT_TIMEOUT_MS = 5000;

/** The email relay's rest after each round while the consumer is behind: 50 emails a round still go out, 50 a second. */
const EMAIL_REST_BEHIND_BACKLOG_MS = 1000;

export interface RunningWorker {
  stop(): Promise<void>;
  /** The port of the API, the page and, unless METRICS_PORT is set, health and metrics (HTTP_PORT=0 picks a free one). */
  httpPort: number;
  /** The port of health and metrics: METRICS_PORT, or the HTTP port. */
  metricsPort: number;
  /** Resolves if the consumer crashed for good; main exits then rather than live on as a zombie. */
  crashed: Promise<Error>;
}

/** Started components, stopped in reverse order; a second stop waits for the first. */
function componentList(logger: Logger, signal: AbortSignal | undefined) {
  const stops: Array<{ name: string; stop: () => Promise<unknown> | unknown }> = [];
  let stopping: Promise<void> | undefined;
  let step = 'loading';
  return {
    /** The step start-up is in now (readiness names it while the worker starts). */
    current: (): string => step,
    /** Starts one component, unless a stop was requested meanwhile. */
    async start<T extends { stop: () => Promise<unknown> | unknown }>(name: string, start: () => Promise<T> | T): Promise<T> {
      signal?.throwIfAborted();
      logger.debug({ step: name }, 'start-up step');
      step = name;
      const component = await start();
      stops.push({ name, stop: component.stop });
      return component;
    },
    stopAll: (): Promise<void> =>
      (stopping ??= (async () => {
        for (const { name, stop } of [...stops].reverse()) {
          await Promise.resolve()
            .then(stop)
            .catch((error: unknown) => logger.warn({ component: name, err: error }, 'stop failed'));
        }
      })()),
  };
}

/**
 * Starts the worker. When `signal` aborts during start-up, the step in hand finishes, what was
 * started is stopped, and the call rejects with the signal's reason.
 */
export async function startWorker(config: Config, logger: Logger, signal?: AbortSignal): Promise<RunningWorker> {
  const components = componentList(logger, signal);
  const metrics = createMetrics();
  metrics.setBounds({
    expireAfterMs: Object.fromEntries(Object.entries(config.timerPolicies).map(([operation, policy]) => [operation, policy.expireAfterMs])),
    retention: { keptMs: retentionPeriods(config.retention), intervalMs: config.retention.intervalMs },
    role: config.role,
  });
  try {
    // The port first, after only the access log its answers are written to (which so stops after
    // it): a taken port fails start-up before anything else, and probes get answers (live; not
    // ready, with what start-up waits for) from now on.
    const access = await components.start('access log', () => openAccessLog(config.accessLog.destination));
    const server = await components.start('http', () =>
      startHttpServer({ probesOnly: config.role === 'relays', host: config.http.host, port: config.http.port, metricsPort: config.http.metricsPort, publicUrl: config.operatorUrl, metrics, logger, accessLog: { logger: access.logger, hashKey: config.accessLog.hashKey }, startingStep: components.current, pageLanguage: config.emailLanguage.defaultLocale }),
    );
    const { dataSource, migrated } = await components.start('database', () =>
      untilAvailable({ what: 'the database', setting: 'DATABASE_URL' }, () => startDatabase(config.databaseUrl, config.databaseLockTimeoutMs, config.migrate).catch((error: unknown) => Promise.reject(classify(error))), logger, {
        signal,
        waitMs: config.startupWaitMs,
      }),
    );
    if (migrated.length) logger.info({ migrations: migrated }, 'database migrated');
    if (config.role === 'relays') {
      // No consumer, broker or registry: the emails and the maintenance, over the database alone.
      await components.start('email relay', () => startEmailRelayLoop({ config, emails: new EmailOutbox(dataSource, config.outboxLeaseMs), metrics, logger }));
      await startMaintenance(components, config, dataSource, metrics, logger);
      server.attach(relaysHttpDeps(new OperationalQueries(dataSource)));
      logger.info({ node: process.version, role: config.role, httpPort: server.port, metricsPort: server.metricsPort }, 'worker started');
      // Nothing here crashes for good: each loop backs off and goes on.
      return { stop: components.stopAll, crashed: new Promise<Error>(() => undefined), httpPort: server.port, metricsPort: server.metricsPort };
    }
    const codec = new AvroCodec(config.schemaRegistryUrl);
    const eventSchema = await components.start('schema registry', () => eventSchemaOf(codec, config, logger, signal));
    const kafka = await components.start('kafka', async () => {
      await untilAvailable({ what: 'the broker', setting: 'KAFKA_BROKERS' }, () => probeBroker(config.kafka, logger), logger, { signal, waitMs: config.startupWaitMs });
      return startKafkaClients(config.kafka, topicSpecs(config), logger.child({ component: 'kafka' }));
    });
    const events = new EventOutbox(dataSource, config.outboxLeaseMs);
    const emails = new EmailOutbox(dataSource, config.outboxLeaseMs);
    const eventsMaxBatchBytes = config.eventsMaxBatchBytes ?? (await topicMaxMessageBytes(kafka.admin, config.topics.events).catch((error: unknown) => {
      // A cluster may not let us describe its topics: sends the broker refuses are still halved.
      logger.warn({ err: error }, "the events topic's max.message.bytes cannot be read; assuming the broker's default (set EVENTS_MAX_BATCH_BYTES)");
      return BROKER_DEFAULT_MAX_MESSAGE_BYTES;
    }));
    // The event relay stays with the consumer: a batch hands its committed events over, and they
    // are on the topic within milliseconds. The emails go with ROLE=relays, off this event loop.
    const relays = await components.start('event relay', () =>
      startEventRelayLoop({ config, events, producer: kafka.producer, codec, eventSchemaId: eventSchema.id, eventsMaxBatchBytes, metrics, logger }),
    );
    // With the consumer in this process, emails give way to a backlog of requests and decisions:
    // while it is more than a transaction behind, the relay rests a second after each round.
    let consumerBacklog = (): number => 0;
    const emailRestMs = (): number => (consumerBacklog() > MAX_TRANSACTION_MESSAGES ? EMAIL_REST_BEHIND_BACKLOG_MS : 0);
    const emailRelay = config.role === 'all' ? await components.start('email relay', () => startEmailRelayLoop({ config, emails, metrics, logger, restMs: emailRestMs })) : undefined;
    const approvals = new ApprovalStore(dataSource, events, config.databasePreparedStatements);
    await components.start('expiry', () => startUnknownDecisionExpiry(config, approvals, relays.kickEvents, logger));
    await components.start('timers', () =>
      startTimerLoop({ approvals, policies: config.timerPolicies, messageIdDomain: config.smtp.messageIdDomain, leaseMs: config.outboxLeaseMs, kickEvents: relays.kickEvents, metrics, logger }),
    );
    const databaseAnswers = (): Promise<boolean> => new OperationalQueries(dataSource).ping().then(() => true, () => false);
    const handleBatch = handleCardOperationBatch({
      approvals,
      rules: batchRules(config),
      publishAfterCommit: (committed, leftQueued) => {
        relays.handOver(committed, leftQueued);
        emailRelay?.kick();
      },
    });
    // A batch starts once the event relay has room for its events: a backlog waits in Kafka, not in memory.
    const handleWhenRelayHasRoom: typeof handleBatch = async (messages) => {
      await relays.room();
      return handleBatch(messages);
    };
    const consumer = await components.start('consumer', () =>
      startApprovalConsumer({ kafka: kafka.kafka, settings: config.kafka, topics: config.topics, rules: config, producer: kafka.producer, codec, handleBatch: handleWhenRelayHasRoom, databaseAnswers, metrics, logger }),
    );
    consumerBacklog = consumer.backlog;
    if (config.role === 'all') await startMaintenance(components, config, dataSource, metrics, logger);
    const reads = await components.start('api database', () => startReadPool(config.databaseUrl, API_STATEMENT_TIMEOUT_MS));
    // Stopped first: the lease is given up while the database still answers.
    const stateLease = await components.start('state lease', () => stateLeaseOf(new StateLease(dataSource)));
    server.attach(httpDeps(config, { dataSource, apiDataSource: reads.dataSource, codec, kafka, consumer, stateLease, metrics, logger }));
    logger.info({ node: process.version, role: config.role, topics: allTopics(config.topics), groupId: config.kafka.groupId, httpPort: server.port, metricsPort: server.metricsPort }, 'worker started');
    return { stop: components.stopAll, crashed: consumer.crashed, httpPort: server.port, metricsPort: server.metricsPort };
  } catch (error) {
    await components.stopAll();
    throw error;
  }
}

/** Retention and the expiry of Idempotency-Keys: database work that runs wherever the emails do. */
async function startMaintenance(components: ReturnType<typeof componentList>, config: Config, dataSource: ConstructorParameters<typeof Retention>[0], metrics: Metrics, logger: Logger): Promise<void> {
  await components.start('idempotency keys', () => startIdempotencyKeyExpiry(new IdempotencyKeys(dataSource, config.idempotencyKeyTtlMs, IDEMPOTENCY_CLAIM_ABANDONED_MS), logger));
  await components.start('retention', () => startRetention(new Retention(dataSource), config.retention, metrics, logger));
}

/**
 * What the probes of a ROLE=relays process check: the database, which is all its relays need.
 * It is in no consumer group, so neither probe asks about one.
 */
function relaysHttpDeps(queries: OperationalQueries): ServerDeps {
  const database = { database: () => queries.ping() };
  return { api: undefined, operations: undefined, audit: undefined, emailActions: undefined, oidcSignIn: undefined, serving: database, consuming: database };
}

/**
 * The event schema's id: registered, or with SCHEMA_REGISTRY_REGISTER=false found (and the
 * subjects the worker reads checked) without a write. Start-up waits out a registry that is
 * briefly away; a schema that is missing refuses it.
 */
async function eventSchemaOf(codec: AvroCodec, config: Config, logger: Logger, signal: AbortSignal | undefined) {
  const subject = `${config.topics.events}-value`;
  const find = async (): Promise<number> => {
    if (config.registerSchemas) return codec.register(subject, 'approval-event');
    for (const topic of Object.values(config.topics.requests)) await codec.checkReadable(`${topic}-value`, 'card-operation-request');
    await codec.checkReadable(`${config.topics.decisions}-value`, 'approval-decision');
    return codec.findRegistered(subject, 'approval-event');
  };
  const id = await untilAvailable({ what: 'the schema registry', setting: 'SCHEMA_REGISTRY_URL' }, find, logger, { signal, waitMs: config.startupWaitMs });
  return { id, stop: () => undefined };
}

/**
 * A key claimed this long ago without an answer is a crashed call's: a retry may run it again
 * (what it publishes or creates has the key's ids, so it is not done twice). Longer than any call.
 */
const IDEMPOTENCY_CLAIM_ABANDONED_MS = 120_000;

/** Removes expired Idempotency-Keys, a small batch at a time, batch after batch until none is left, then once a minute. */
function startIdempotencyKeyExpiry(keys: IdempotencyKeys, logger: Logger) {
  return startRelayLoop('idempotency-key expiry', () => keys.removeExpired(500), logger, { pollMs: 60_000 });
}

/** Refuses decisions whose request never came (UNKNOWN_REQUEST), on a timer. */
function startUnknownDecisionExpiry(config: Config, approvals: ApprovalStore, kickEvents: () => void, logger: Logger) {
  const expire = expireUnknownDecisions({ approvals, windowMs: config.unknownRequestWindowMs });
  const pollMs = Math.min(5000, config.unknownRequestWindowMs / 2);
  return startRelayLoop(
    'unknown-request expiry',
    async () => {
      const refused = await expire();
      for (const t of refused) logger.info({ requestId: t.event.requestId, decisionId: t.event.decision?.decisionId, eventId: t.event.eventId }, 'decision refused: UNKNOWN_REQUEST');
      if (refused.length) kickEvents();
      return refused.length;
    },
    logger,
    { pollMs },
  );
}

/** This replica's hold on the state lease. A stop gives it up, and no scrape takes it again. */
function stateLeaseOf(lease: StateLease) {
  const holder = randomUUID();
  let stopped = false;
  let asking: Promise<boolean> = Promise.resolve(false);
  return {
    hold: (): Promise<boolean> => (stopped ? Promise.resolve(false) : (asking = lease.hold(holder, STATE_LEASE_MS))),
    async stop(): Promise<void> {
      stopped = true;
      // A hold under way could otherwise take the lease back after it was given up.
      await asking.catch(() => false);
      await lease.release(holder);
    },
  };
}

type HttpDeps = {
  dataSource: ConstructorParameters<typeof OperationalQueries>[0];
  /** The API's own pool: its searches cannot hold the consumer's connections. */
  apiDataSource: ConstructorParameters<typeof ApprovalQueries>[0];
  codec: AvroCodec;
  kafka: KafkaClients;
  consumer: Pick<ApprovalConsumer, 'isInGroup' | 'stalledPartitions'>;
  stateLease: { hold(): Promise<boolean> };
  metrics: Metrics;
  logger: Logger;
};

/** What the HTTP routes serve with once the worker is up: the API, the page, email actions, sign-in, probes and metrics. */
function httpDeps(config: Config, deps: HttpDeps): ServerDeps {
  const { dataSource, codec, kafka, metrics, logger } = deps;
  const queries = new OperationalQueries(dataSource);
  const personalData = new PersonalDataStore(dataSource, { leaseMs: config.outboxLeaseMs }, config.databasePreparedStatements);
  const retention = new Retention(dataSource);
  const consumedTopics = [...Object.values(config.topics.requests), config.topics.decisions];
  metrics.useProbes(
    {
      reportsState: () => deps.stateLease.hold(),
      outboxBacklog: () => queries.outboxBacklog(),
      pendingApprovals: () => queries.pendingApprovals(),
      timers: () => queries.timers(),
      consumerLag: () => consumerLag(kafka.admin, config.kafka.groupId, consumedTopics),
      stalledPartitions: () => deps.consumer.stalledPartitions(0),
      oldestRows: () => retention.oldestAges(),
    },
    (error) => {
      // A database away leaves the state out of this scrape; SQL of ours that fails is a defect.
      const failure = classify(error);
      if (failure.retriable) logger.warn({ code: failure.code, err: error }, 'the state metrics could not be read; served without them');
      else reportDefect(failure, 'http', logger, metrics, { route: '/metrics' });
    },
  );
  const publish = decisionPublisher({ codec, producer: kafka.producer, topic: config.topics.decisions });
  // One verifier for the API's bearer tokens and for the token a sign-in hands to the page.
  const authenticate = createAuthenticator(config.auth);
  const queriesForApi = new ApprovalQueries(deps.apiDataSource);
  const publishDecisions = async (decisions: ApprovalDecision[], source = 'the API'): Promise<void> => {
    await publish(...decisions);
    for (const d of decisions) logger.info({ requestId: d.requestId, decisionId: d.decisionId, decision: d.decision }, `decision published by ${source}`);
  };
  const links = decisionLinksFor(config);
  const idempotencyKeys = new IdempotencyKeys(deps.apiDataSource, config.idempotencyKeyTtlMs, IDEMPOTENCY_CLAIM_ABANDONED_MS);
  const api = config.auth.apiEnabled
    ? {
        authenticate,
        signInLocally: config.auth.localSignIn ? (identity: Identity) => mintLocalToken(config.auth, identity) : undefined,
        queries: queriesForApi,
        delegations: new Delegations(deps.apiDataSource),
        publishDecisions,
        idempotencyKeys,
        oidc: config.auth.oidc !== undefined,
      }
    : undefined;
  return {
    api,
    // Operators unpark through the API's pool, as the API writes delegations.
    operations: api && {
      authenticate,
      events: new EventOutbox(deps.apiDataSource, config.outboxLeaseMs),
      timers: new OperationalQueries(deps.apiDataSource),
      logger: logger.child({ component: 'operations-api' }),
      idempotencyKeys,
      // Erasure writes through the worker's own pool, as a batch does: it is one, and may be long.
      personalData: {
        erase: erasePerson({ personalData, rules: batchRules(config), approverGroups: config.approverGroups }),
        exportOf: (who: string) => personalData.exportOf(who),
      },
    },
    // The audit trail is read through the API's pool too: its statements end after the API's timeout.
    audit: api && { authenticate, trail: new AuditTrail(deps.apiDataSource) },
    oidcSignIn: api && config.auth.oidc ? createOidcSignIn(config.auth.oidc, authenticate, logger.child({ component: 'oidc-sign-in' })) : undefined,
    // The page and the API read Postgres through their own pool, and need neither broker nor registry to answer.
    serving: { database: () => new OperationalQueries(deps.apiDataSource).ping() },
    consuming: consumerChecks(queries, deps, config.partitionStalledAfterMs),
    emailActions: links && {
      links,
      uses: new EmailLinkUses(deps.apiDataSource),
      queries: queriesForApi,
      publishDecisions: (decisions: ApprovalDecision[]) => publishDecisions(decisions, 'a one-click email link'),
      pageUrl: config.operatorUrl,
      pages: new OneClickPages(config.emailLanguage),
    },
  };
}

/**
 * The consumer makes progress: the database, broker and registry answer, the consumer is in its
 * group, no partition has had work waiting past the bound without a batch completing, and no timer
 * is that far past due (connections alone say nothing of a partition that retries forever, or of
 * timers that stopped).
 */
function consumerChecks(queries: OperationalQueries, { codec, kafka, consumer }: HttpDeps, stalledAfterMs: number) {
  return {
    progress: async () => {
      const stalled = consumer.stalledPartitions(stalledAfterMs);
      if (stalled.length) throw new Error(`no progress for over ${stalledAfterMs / 1000}s on ${stalled.map((s) => `${s.topic}[${s.partition}]`).join(', ')}`);
    },
    timers: async () => {
      const { overdueSeconds } = await queries.timers();
      if (overdueSeconds * 1000 > stalledAfterMs) throw new Error(`a timer is ${Math.round(overdueSeconds)}s past due: reminders, escalations or expiries are not firing`);
    },
    database: () => queries.ping(),
    broker: async () => void (await kafka.admin.describeCluster()),
    registry: () => codec.ping(),
    consumer: async () => {
      if (!consumer.isInGroup()) throw new Error('the consumer is not in its group');
    },
  };
}

/** The rules a batch of decisions is folded with: the consumer's, and an erasure's. */
const batchRules = (config: Config): BatchRules => ({ messageIdDomain: config.smtp.messageIdDomain, cardConflictPolicy: config.cardConflictPolicy, timerPolicies: config.timerPolicies });
