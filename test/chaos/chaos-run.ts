// One fault-injection run: worker processes on topics and a database of their own, a stream of
// requests and decisions, and afterwards a count of every effect against what the stream must
// produce. The expected event ids and emails are derived exactly (event ids come from the domain's
// own derivation), so "lost" and "duplicated" are set differences, not estimates.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { createKafka, createProducer, createWatcher, type Consumer, type Producer } from '../../src/adapters/kafka/kafka-client';
import { AvroCodec } from '../../src/adapters/schema-registry/avro-codec';
import { AuditTrail } from '../../src/data-access/audit-trail';
import { createDataSource, migrate } from '../../src/data-access/data-source';
import { dropDatabase, ensureDatabase } from '../stack/postgres';
import { eventIdFor, type ApprovalEvent } from '../../src/domain/approval';
import { OPERATIONS, type ApprovalDecision, type Card, type CardOperationRequest, type Person } from '../../src/domain/card-operation';
import { aCard, aPerson, aRequest, decisionsFor } from '../support/builders';
import { allTopics } from '../../src/libraries/config';
import { loadStackConfig, type StackConfig } from '../stack/stack-config';
import { createLogger } from '../../src/libraries/logger';
import { ROOT, ensureBuilt } from '../support/build';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import type { WorkerVersion } from './previous-version';
import { pollUntil } from '../../src/libraries/retry';
import { createTopics, deleteSubjects, deleteTopics } from '../support/topics';

const ARTIFACTS = path.join(ROOT, 'test-artifacts');

interface PlannedRequest {
  request: CardOperationRequest;
  decisions: ApprovalDecision[];
  /** EXPIRED: nobody decides; its timers remind, escalate and expire it during the faults. */
  endState: 'APPROVED' | 'REJECTED' | 'EXPIRED';
  /** Approvals its operation's policy needs: with 2, each vote is a VOTED event and the end an event of its own. */
  votes: 1 | 2;
}

/** Every TIMER_EVERY-th request is left to the timers, as a LOCK_CARD; the others are decided, and are never LOCK_CARD. */
const TIMER_EVERY = 10;
const DECIDED_OPERATIONS = OPERATIONS.filter((op) => op !== 'LOCK_CARD');
/**
 * A policy mix: DEACTIVATE_CARD needs ALL (both) of its approvers, REACTIVATE_CARD a QUORUM of 2;
 * the other decided operations take the first final decision. Nearly half the decided requests need two votes.
 */
const APPROVAL_POLICY = JSON.stringify({ DEACTIVATE_CARD: { rule: 'ALL' }, REACTIVATE_CARD: { rule: 'QUORUM 2' } });
const votesFor = (operation: string): 1 | 2 => (operation === 'DEACTIVATE_CARD' || operation === 'REACTIVATE_CARD' ? 2 : 1);
/** LOCK_CARD's ladder in seconds, so timers fire while the faults happen. */
const timerPolicy = (escalation: Person): string =>
  JSON.stringify({ LOCK_CARD: { remindAfter: '1500ms', remindIntervalMax: '3s', escalateAfter: '3s', escalateTo: [escalation], expireAfter: '7s' } });

export interface ScenarioCounts {
  scenario: string;
  messagesIn: number;
  records: number;
  eventsDistinct: number;
  eventsCopies: number;
  emailsDistinct: number;
  emailsCopies: number;
  /** The most times one email arrived. */
  emailsMostCopies: number;
  deadLetters: number;
  refusals: number;
  lost: number;
  duplicatedEffects: number;
  /** Events that reached the topic (first time) after a later event of their request. */
  orderViolations: number;
  rebalances: number;
  /** Readiness probes (every worker, each second) that found a partition with work and no batch completing. */
  stalls: number;
  /** Dead letters blamed on a defect of ours (WORKER_DEFECT): there must be none. */
  defectLetters: number;
  /** Timer events (distinct): reminders, escalations, expiries; and how many of them fired while the fault was on. */
  timerEvents: { reminded: number; escalated: number; expired: number; duringFault: number };
  /** Requests whose policy needed two approvals, and the votes stored across all requests. */
  policyMix: { twoVote: number; votes: number };
  recoverySeconds: number;
  problems: string[];
}

const person = (id: string, run: string): Person => aPerson('person', { id, name: `Person ${id}`, email: `${id}-${run}@example.com` });

export class ChaosRun {
  readonly workers: WorkerProcess[] = [];
  /** The session timeout workers of this run use: a SIGKILLed member is noticed after it. */
  static readonly SESSION_TIMEOUT_MS = 6000;
  private readonly plans: PlannedRequest[] = [];
  private readonly eventCopies = new Map<string, number>();
  /** Each distinct event, by id: what the timers did decides which reminder and escalation emails are due. */
  private readonly events = new Map<string, ApprovalEvent>();
  /** Per request, its event ids in the order they first reached the topic. */
  private readonly arrivals = new Map<string, string[]>();
  private readonly deadLetters: string[] = [];
  private messagesIn = 0;
  private workerCount = 0;
  private stalledProbes = 0;
  private readonly prober: NodeJS.Timeout;

  private constructor(
    readonly run: string,
    readonly scenario: string,
    readonly env: Record<string, string>,
    readonly config: StackConfig,
    readonly db: DataSource,
    private readonly producer: Producer,
    private readonly observer: Consumer,
    private readonly codec: AvroCodec,
    private readonly schemaIds: { request: number; decision: number },
    /** Whether requests follow the policy mix (two votes for some operations), or all take the first final decision. */
    private readonly policyMix: boolean,
  ) {
    this.prober = setInterval(() => void this.probeReadiness(), 1000);
  }

  /**
   * `migrate: false` leaves the database empty for the first workers to migrate (the previous
   * version's, in the mixed-version run); `policyMix: false` is for versions without policies.
   */
  static async create(scenario: string, extraEnv: Record<string, string> = {}, options: { migrate?: boolean; policyMix?: boolean } = {}): Promise<ChaosRun> {
    const { migrate: migrated = true, policyMix = true } = options;
    await ensureBuilt();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const run = `c${randomUUID().slice(0, 8)}`;
    const escalation = person('escalation', run);
    const databaseUrl = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/card_approvals_test');
    databaseUrl.pathname = `/card_approvals_chaos_${run}`;
    await ensureDatabase(databaseUrl.toString());
    const env = {
      DATABASE_URL: databaseUrl.toString(),
      TOPIC_PREFIX: `chaos-${run}.`,
      KAFKA_GROUP_ID: `card-approval-worker-${run}`,
      TOPIC_PARTITIONS: '4',
      KAFKA_SESSION_TIMEOUT_MS: String(ChaosRun.SESSION_TIMEOUT_MS),
      // What a killed worker had claimed is taken over after this; local sends take milliseconds.
      OUTBOX_LEASE_MS: '5000',
      SMTP_SEND_TIMEOUT_MS: '3000',
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      APPROVAL_TIMERS: timerPolicy(escalation),
      ...(policyMix ? { APPROVAL_POLICY } : {}),
      ...extraEnv,
    };
    const config = loadStackConfig({ ...process.env, ...env });
    const logger = createLogger('warn', path.join(ARTIFACTS, `chaos-${run}-driver.log`));
    const db = await createDataSource(config.databaseUrl, 2).initialize();
    if (migrated) await migrate(db);
    const kafka = createKafka(config.kafka, logger, `chaos-${run}`);
    await createTopics(kafka, allTopics(config.topics), config.kafka.partitions);
    const codec = new AvroCodec(config.schemaRegistryUrl);
    const schemaIds = {
      request: await codec.register(`${config.topics.requests.LOCK_CARD}-value`, 'card-operation-request'),
      decision: await codec.register(`${config.topics.decisions}-value`, 'approval-decision'),
    };
    for (const topic of Object.values(config.topics.requests)) await codec.register(`${topic}-value`, 'card-operation-request');
    const producer = createProducer(kafka);
    await producer.connect();
    const observer = createWatcher(kafka, `chaos-observer-${run}`);
    const self = new ChaosRun(run, scenario, env, config, db, producer, observer, codec, schemaIds, policyMix);
    await observer.connect();
    await observer.subscribe({ topics: [config.topics.events, config.topics.deadLetter], fromBeginning: true });
    await observer.run({
      eachMessage: async ({ topic, message }) => {
        if (topic === config.topics.deadLetter) {
          self.deadLetters.push(String(message.headers?.['dlq.reason'] ?? ''));
          return;
        }
        // The event id travels in a header too; decoding proves the event is readable.
        const event = await codec.decode<ApprovalEvent>(message.value, 'approval-event');
        const copies = (self.eventCopies.get(event.eventId) ?? 0) + 1;
        self.eventCopies.set(event.eventId, copies);
        if (copies === 1) {
          self.arrivals.set(event.requestId, [...(self.arrivals.get(event.requestId) ?? []), event.eventId]);
          self.events.set(event.eventId, event);
        }
      },
    });
    return self;
  }

  /** Starts a worker process (the real entry point, as operators run it) of this checkout or of `version`; its log is kept. */
  startWorker(version?: WorkerVersion): WorkerProcess {
    const log = path.join(ARTIFACTS, `chaos-${this.run}-w${++this.workerCount}${version ? `-${version.label}` : ''}.log`);
    const worker = startWorkerProcess(this.env, log, version?.root);
    this.workers.push(worker);
    return worker;
  }

  /** Asks every started worker whether it is ready; counts the answers that name a stalled partition. */
  private async probeReadiness(): Promise<void> {
    await Promise.all(
      this.workers.map(async (worker) => {
        const port = /"httpPort":(\d+)/.exec(worker.output())?.[1];
        if (!port) return;
        const answer = await fetch(`http://127.0.0.1:${port}/health/consumer`, { signal: AbortSignal.timeout(3000) })
          .then((res) => res.json() as Promise<{ checks?: { progress?: { ok: boolean } } }>)
          .catch(() => undefined);
        if (answer?.checks?.progress?.ok === false) this.stalledProbes += 1;
      }),
    );
  }

  async stopWorker(worker: WorkerProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<number | null> {
    worker.child.kill(signal);
    const { code } = await worker.exited;
    this.workers.splice(this.workers.indexOf(worker), 1);
    return code;
  }

  /** Waits until the workers have opened `count` records: progress, the point to inject a fault at. */
  async opened(count: number): Promise<void> {
    await pollUntil(
      async () => ((await this.db.query('SELECT count(*)::int AS n FROM approval_requests')) as Array<{ n: number }>)[0]!.n,
      (n) => n >= count,
      { timeoutMs: 120_000, intervalMs: 50, what: `${count} records opened` },
    );
  }

  /** Publishes `count` requests with their decisions, spread over about `durationMs`. */
  async stream(count: number, durationMs: number): Promise<void> {
    const approvers = [person('approver-a', this.run), person('approver-b', this.run)];
    const chunk = 20;
    const pause = durationMs / Math.max(1, Math.ceil(count / chunk));
    for (let start = 0; start < count; start += chunk) {
      const batch: PlannedRequest[] = [];
      for (let i = start; i < Math.min(count, start + chunk); i += 1) batch.push(this.plan(i, approvers));
      this.plans.push(...batch);
      const requestsByTopic = new Map<string, Array<{ key: string; value: Buffer }>>();
      for (const { request } of batch) {
        const topic = this.config.topics.requests[request.operation];
        const list = requestsByTopic.get(topic) ?? [];
        list.push({ key: request.requestId, value: await this.codec.encode(this.schemaIds.request, request) });
        requestsByTopic.set(topic, list);
      }
      const decisions = await Promise.all(
        batch.flatMap((p) => p.decisions).map(async (d) => ({ key: d.requestId, value: await this.codec.encode(this.schemaIds.decision, d) })),
      );
      const topicMessages = [...[...requestsByTopic].map(([topic, messages]) => ({ topic, messages })), { topic: this.config.topics.decisions, messages: decisions }];
      // Upstream keeps trying through a broker restart; a resend is a redelivery the worker must absorb.
      for (let attempt = 1; ; attempt += 1) {
        try {
          await this.producer.sendBatch({ topicMessages });
          break;
        } catch (error) {
          if (attempt >= 30) throw error;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      this.messagesIn += batch.length + decisions.length;
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  private plan(index: number, approvers: Person[]): PlannedRequest {
    const timed = index % TIMER_EVERY === TIMER_EVERY - 1;
    const operation = timed ? 'LOCK_CARD' : DECIDED_OPERATIONS[index % DECIDED_OPERATIONS.length]!;
    const card = (n: number): Card => aCard(person(`holder-${index}-${n}`, this.run), { cardId: `card-${index}-${n}`, serialNumber: `SN-${index}-${n}`, validTo: null });
    const request = aRequest(operation, {
      requestId: `${this.run}-req-${index}`,
      requester: person(`requester-${index}`, this.run),
      cards: operation === 'REQUEST_MULTIPLE_CARDS' ? [card(1), card(2)] : [card(1)],
      description: `chaos ${this.scenario} #${index}`,
      approvers,
      attributes: {},
    });
    if (timed) return { request, decisions: [], endState: 'EXPIRED', votes: 1 };
    const votes = this.policyMix ? votesFor(operation) : 1;
    const decisions = decisionsFor(request, index, 'chaos says no', votes);
    return { request, decisions, endState: decisions.some((d) => d.decision === 'REJECTED') ? 'REJECTED' : 'APPROVED', votes };
  }

  /**
   * The events every request must cause: OPENED, and its decisions' events (with, under a
   * two-vote policy, the end the last one brings) or its expiry.
   */
  private expectedEventIds(): Set<string> {
    return new Set(
      this.plans.flatMap((p) => [
        eventIdFor.opened(p.request.requestId),
        ...(p.endState === 'EXPIRED' ? [eventIdFor.expired(p.request.requestId)] : p.decisions.map((d) => eventIdFor.decision(d))),
        ...(p.votes === 2 ? [eventIdFor.outcome(p.decisions.at(-1)!)] : []),
      ]),
    );
  }

  /**
   * Events a timed request may cause besides: reminders 1…n, numbered without a gap (how many
   * depends on how late the faults let them fire), and one escalation (none if expiry came first).
   */
  private timerEventIds(): { allowed: Set<string>; gaps: string[] } {
    const allowed = new Set<string>();
    const gaps: string[] = [];
    for (const p of this.plans.filter((plan) => plan.endState === 'EXPIRED')) {
      const id = p.request.requestId;
      allowed.add(eventIdFor.escalated(id));
      const seen = [...this.events.values()].filter((e) => e.requestId === id && e.type === 'REMINDED').length;
      for (let n = 1; n <= seen; n += 1) {
        allowed.add(eventIdFor.reminded(id, n));
        if (!this.events.has(eventIdFor.reminded(id, n))) gaps.push(`${id} reminder ${n}`);
      }
    }
    return { allowed, gaps };
  }

  /** (recipient, requestId, kind) of every email the stream must cause, and those the timers' events call for. */
  private expectedEmails(): Set<string> {
    const keys = this.plans.flatMap((p) => [
      ...p.request.approvers.map((a) => `${a.email}|${p.request.requestId}|Approval needed`),
      `${p.request.requester.email}|${p.request.requestId}|${{ APPROVED: 'Approved', REJECTED: 'Rejected', EXPIRED: 'Expired' }[p.endState]}`,
    ]);
    const planned = new Map(this.plans.map((p) => [p.request.requestId, p.request]));
    for (const event of this.events.values()) {
      const request = planned.get(event.requestId);
      if (!request) continue;
      if (event.type === 'REMINDED') keys.push(...event.approvers.map((a) => `${a.email}|${event.requestId}|${event.message!.split(':')[0]}`));
      if (event.type === 'ESCALATED') {
        const asked = new Set(request.approvers.map((a) => a.id));
        keys.push(...event.approvers.filter((a) => !asked.has(a.id)).map((a) => `${a.email}|${event.requestId}|Escalated to you`));
      }
    }
    return new Set(keys);
  }

  private async inbox(): Promise<Array<{ id: string; key: string }>> {
    const found: Array<{ id: string; key: string }> = [];
    for (let skip = 0; ; skip += 200) {
      const res = await fetch(`${this.config.inboxUrl}/api/email/summary?search=${this.run}&limit=200&skip=${skip}&sort=asc`);
      const page = (await res.json()) as { items: Array<{ id: string; subject: string; preview: string; to: Array<{ address: string }> }>; total: number };
      for (const item of page.items) {
        const requestId = /\(([^)]+)\)\s*$/.exec(item.subject)?.[1] ?? '?';
        // The kind is the subject's first words ("Approved: Lock card (id)", or "Approved (id)" when
        // a long id leaves no room for the operation). Reminders share a subject; their text says
        // which one ("This is reminder 2.", and in the previous version's "Reminder 2: …").
        const nth = /reminder (\d+)/i.exec(item.preview)?.[1];
        const kind = item.subject.startsWith('Reminder') ? (nth ? `Reminder ${nth}` : '?') : (item.subject.split(/:| \(/)[0] ?? '?');
        for (const to of item.to) found.push({ id: item.id, key: `${to.address.toLowerCase()}|${requestId}|${kind}` });
      }
      if (skip + 200 >= page.total) return found;
    }
  }

  /** Waits until every planned effect is visible (or the deadline passes), then counts. */
  async settleAndCount(fault: { startedAt: number; endedAt: number }, timeoutMs = 180_000): Promise<ScenarioCounts> {
    const expectedEvents = this.expectedEventIds();
    const deadline = Date.now() + timeoutMs;
    let emails: Array<{ id: string; key: string }> = [];
    let expectedEmails = this.expectedEmails();
    for (;;) {
      emails = await this.inbox().catch(() => emails);
      expectedEmails = this.expectedEmails();
      const seenEvents = [...expectedEvents].filter((id) => this.eventCopies.has(id)).length;
      const seenEmails = new Set(emails.map((e) => e.key).filter((k) => expectedEmails.has(k))).size;
      if ((seenEvents === expectedEvents.size && seenEmails === expectedEmails.size) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const recoverySeconds = (Date.now() - fault.endedAt) / 1000;
    // A moment more, so late duplicates (if any) are counted too.
    await new Promise((r) => setTimeout(r, 2000));
    emails = await this.inbox();

    const problems: string[] = [];
    const rows: Array<{ request_id: string; status: string; votes: number }> = await this.db.query('SELECT request_id, status, jsonb_array_length(votes) AS votes FROM approval_requests');
    const stored = new Map(rows.map((r) => [r.request_id, r]));
    let lost = 0;
    let votesMiscounted = 0;
    for (const p of this.plans) {
      const row = stored.get(p.request.requestId);
      if (row?.status !== p.endState) {
        lost += 1;
        problems.push(`${p.request.requestId} is ${row?.status ?? 'missing'}, expected ${p.endState}`);
      }
      // Each approval or rejection counts once: a vote counted twice, or lost, shows here. A
      // version without policies (the previous one, beside this) stores no votes at all.
      const planned = p.decisions.filter((d) => d.decision !== 'POSTPONED').length;
      if (row && row.votes !== planned && (this.policyMix || row.votes !== 0)) {
        votesMiscounted += 1;
        problems.push(`${p.request.requestId} counted ${row.votes} vote(s), expected ${planned}`);
      }
    }
    expectedEmails = this.expectedEmails();
    const timers = this.timerEventIds();
    const missingEvents = [...expectedEvents].filter((id) => !this.eventCopies.has(id));
    const unexpectedEvents = [...this.eventCopies.keys()].filter((id) => !expectedEvents.has(id) && !timers.allowed.has(id));
    if (timers.gaps.length) problems.push(`reminders missing between others: ${timers.gaps.slice(0, 3).join(', ')}`);
    lost += timers.gaps.length;
    const emailCopies = new Map<string, string[]>();
    for (const e of emails) emailCopies.set(e.key, [...(emailCopies.get(e.key) ?? []), e.id]);
    const missingEmails = [...expectedEmails].filter((k) => !emailCopies.has(k));
    const unexpectedEmails = [...emailCopies.keys()].filter((k) => !expectedEmails.has(k));
    // A copy of an email is acceptable only as the same message: same Message-ID.
    let emailsWithOtherIds = 0;
    for (const [key, ids] of emailCopies) {
      if (ids.length < 2) continue;
      const messageIds = new Set<string>();
      for (const id of ids) {
        const full = (await (await fetch(`${this.config.inboxUrl}/api/email/${id}`)).json()) as { headers: Record<string, string> };
        messageIds.add(full.headers['message-id'] ?? '?');
      }
      if (messageIds.size > 1) {
        emailsWithOtherIds += 1;
        problems.push(`${key} arrived with ${messageIds.size} different Message-IDs`);
      }
    }
    // Every event stored, by whichever version stored it, is in the request's history.
    const [unrecorded] = await this.db.query(
      `SELECT count(*)::int AS n FROM approval_events e WHERE NOT EXISTS (SELECT 1 FROM approval_history h WHERE h.seq = e.seq AND h.event_id = e.event_id AND h.type = e.type)`,
    );
    const missingHistory = (unrecorded as { n: number }).n;
    if (missingHistory) problems.push(`${missingHistory} event(s) missing from the history`);
    // And every request's history is still the chain the database made of it, whichever version stored its events.
    const offChain = await this.entriesOffTheirChain();
    if (offChain.length) problems.push(`${offChain.length} history entr(ies) not fitting their chain: ${offChain.slice(0, 3).join(', ')}`);
    lost += missingEvents.length + missingEmails.length + missingHistory;
    if (missingEvents.length) problems.push(`${missingEvents.length} event(s) never published: ${missingEvents.slice(0, 3).join(', ')}`);
    if (missingEmails.length) problems.push(`${missingEmails.length} email(s) never delivered: ${missingEmails.slice(0, 3).join(', ')}`);
    // A request must reach its end state once: two final transitions would be two effects downstream.
    const doubleEnds: Array<{ request_id: string }> = await this.db.query(
      `SELECT request_id FROM approval_events WHERE type IN ('APPROVED', 'REJECTED', 'PARTIALLY_APPROVED', 'EXPIRED', 'CANCELLED', 'SUPERSEDED') GROUP BY request_id HAVING count(*) > 1`,
    );
    if (doubleEnds.length) problems.push(`${doubleEnds.length} request(s) reached an end state twice`);
    const duplicatedEffects = doubleEnds.length + unexpectedEvents.length + unexpectedEmails.length + emailsWithOtherIds + votesMiscounted;
    if (unexpectedEvents.length) problems.push(`${unexpectedEvents.length} unexpected event id(s): ${unexpectedEvents.slice(0, 3).join(', ')}`);
    if (unexpectedEmails.length) problems.push(`${unexpectedEmails.length} unexpected email(s): ${unexpectedEmails.slice(0, 3).join(', ')}`);

    const orderViolations = await this.orderViolations();
    if (orderViolations) problems.push(`${orderViolations} event(s) reached the topic after a later event of their request`);

    const [refusals] = await this.db.query(`SELECT count(*)::int AS n FROM approval_events WHERE type = 'DECISION_REFUSED'`);
    const defectLetters = this.deadLetters.filter((reason) => reason === 'WORKER_DEFECT').length;
    if (defectLetters) problems.push(`${defectLetters} message(s) dead-lettered WORKER_DEFECT`);
    if (this.stalledProbes) problems.push(`${this.stalledProbes} readiness probe(s) found a stalled partition`);
    return {
      scenario: this.scenario,
      messagesIn: this.messagesIn,
      records: rows.length,
      eventsDistinct: [...this.eventCopies.keys()].length,
      eventsCopies: [...this.eventCopies.values()].reduce((a, b) => a + b, 0),
      emailsDistinct: emailCopies.size,
      emailsCopies: emails.length,
      emailsMostCopies: Math.max(0, ...[...emailCopies.values()].map((ids) => ids.length)),
      deadLetters: this.deadLetters.length,
      refusals: (refusals as { n: number }).n,
      lost,
      duplicatedEffects,
      orderViolations,
      policyMix: { twoVote: this.plans.filter((p) => p.votes === 2).length, votes: rows.reduce((sum, r) => sum + r.votes, 0) },
      rebalances: this.countJoins(),
      stalls: this.stalledProbes,
      defectLetters,
      timerEvents: this.timerEventCounts(fault),
      recoverySeconds: Math.round(recoverySeconds * 10) / 10,
      problems,
    };
  }

  /** The history entries the audit chain names (none from a version before the chain). */
  private async entriesOffTheirChain(): Promise<string[]> {
    const [{ chained }] = (await this.db.query(`SELECT to_regclass('audit_person_keys') IS NOT NULL AS chained`)) as [{ chained: boolean }];
    if (!chained) return [];
    const trail = new AuditTrail(this.db);
    const found: string[] = [];
    for (let after: string | undefined; ; ) {
      const { reports, next } = await trail.verify({ after }, { requests: 500, entries: 50_000 });
      found.push(...reports.flatMap((r) => r.problems.map((p) => `${p.kind} ${p.requestId} seq ${p.seq}`)));
      if (next === null) return found;
      after = next;
    }
  }

  /** Per request, the order events first reached the topic, against the order they happened (seq). */
  private async orderViolations(): Promise<number> {
    const rows: Array<{ event_id: string; seq: string }> = await this.db.query('SELECT event_id, seq FROM approval_events');
    const seq = new Map(rows.map((r) => [r.event_id, Number(r.seq)]));
    let violations = 0;
    for (const eventIds of this.arrivals.values()) {
      let latest = -1;
      for (const id of eventIds) {
        const s = seq.get(id) ?? -1;
        if (s < latest) violations += 1;
        latest = Math.max(latest, s);
      }
    }
    return violations;
  }

  private timerEventCounts(fault: { startedAt: number; endedAt: number }): ScenarioCounts['timerEvents'] {
    const timed = [...this.events.values()].filter((e) => e.type === 'REMINDED' || e.type === 'ESCALATED' || e.type === 'EXPIRED');
    const count = (type: string): number => timed.filter((e) => e.type === type).length;
    return {
      reminded: count('REMINDED'),
      escalated: count('ESCALATED'),
      expired: count('EXPIRED'),
      duringFault: timed.filter((e) => e.occurredAt >= fault.startedAt && e.occurredAt <= fault.endedAt).length,
    };
  }

  private countJoins(): number {
    let joins = 0;
    for (const file of fs.readdirSync(ARTIFACTS).filter((f) => f.startsWith(`chaos-${this.run}-w`))) {
      joins += fs.readFileSync(path.join(ARTIFACTS, file), 'utf8').split('"msg":"consumer joined group"').length - 1;
    }
    return joins;
  }

  async close(): Promise<void> {
    clearInterval(this.prober);
    await Promise.allSettled(this.workers.map((w) => this.stopWorker(w, 'SIGKILL')));
    await Promise.allSettled([this.observer.disconnect(), this.producer.disconnect()]);
    await deleteTopics(createKafka(this.config.kafka, createLogger('silent'), `chaos-${this.run}`), allTopics(this.config.topics)).catch(() => undefined);
    await deleteSubjects(this.config.schemaRegistryUrl, allTopics(this.config.topics));
    await this.db.destroy();
    await dropDatabase(this.config.databaseUrl).catch(() => undefined);
  }
}

export function formatTable(rows: ScenarioCounts[]): string {
  const header = ['scenario', 'messages in', 'records', 'events (distinct/copies)', 'emails (distinct/copies)', 'timer events: reminded/escalated/expired (during the fault)', 'two-vote requests (votes stored)', 'dead letters', 'refusals', 'lost', 'duplicated effects', 'order violations', 'stalled probes', 'defect letters', 'group joins', 'time to recover (s)'];
  const lines = rows.map((r) => [
    r.scenario,
    String(r.messagesIn),
    String(r.records),
    `${r.eventsDistinct}/${r.eventsCopies}`,
    `${r.emailsDistinct}/${r.emailsCopies}${r.emailsCopies > r.emailsDistinct ? ` (≤${r.emailsMostCopies} each)` : ''}`,
    `${r.timerEvents.reminded}/${r.timerEvents.escalated}/${r.timerEvents.expired} (${r.timerEvents.duringFault})`,
    `${r.policyMix.twoVote} (${r.policyMix.votes})`,
    String(r.deadLetters),
    String(r.refusals),
    String(r.lost),
    String(r.duplicatedEffects),
    String(r.orderViolations),
    String(r.stalls),
    String(r.defectLetters),
    String(r.rebalances),
    String(r.recoverySeconds),
  ]);
  const table = [header, ...lines];
  return table.map((cells) => `| ${cells.join(' | ')} |`).join('\n').replace(/\n/, `\n|${header.map(() => '---').join('|')}|\n`);
}
