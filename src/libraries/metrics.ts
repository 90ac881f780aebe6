// Prometheus metrics, one set per worker (tests run several workers in one process), in two
// registries:
// - the replica's own: counters that move where things happen, histograms, the partitions this
//   replica has stalled, the policy and retention bounds it runs with, and Node's process metrics
//   under prom-client's default names (so stock Node dashboards read them);
// - the shared state: gauges read on scrape from the database and the consumer group, which every
//   replica would read alike. Only the replica that holds the state lease serves them (the lease
//   moves on a scrape after its holder stopped or stopped being scraped), so sum() over pods is the
//   value, not a multiple of it. Only processes that consume (ROLE all or consumer) take it: they
//   can read the group's lag, which a ROLE=relays process has no broker for. Around a hand-over
//   two replicas' last samples can overlap for one scrape: rules take max(), which is exact throughout.
// docs/metrics.md is generated from these declarations.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObject } from 'prom-client';
import { eventIdFor, type Transition } from '../domain/approval';
import type { Operation } from '../domain/card-operation';

/**
 * How long the replica serving the shared state keeps serving it without a scrape: longer than
 * any scrape interval (Prometheus's default is 1 minute), so the holder keeps it while scraped.
 */
export const STATE_LEASE_MS = 120_000;

/** What the shared state is read from, on scrape, by the replica that serves it. */
export interface StateProbes {
  /** Whether this replica serves the shared state now: it holds the state lease, or just took it. */
  reportsState(): Promise<boolean>;
  outboxBacklog(): Promise<{ events: number; emails: number; parkedEvents: number; parkedEmails: number; emailsOverdueSeconds: number }>;
  /** Pending approvals per operation, and the age of the oldest of each. */
  pendingApprovals(): Promise<Record<string, { pending: number; oldestAgeSeconds: number }>>;
  /** Timers waiting to fire, and how far past due the most overdue one is. */
  timers(): Promise<{ waiting: number; overdueSeconds: number; parked: number }>;
  consumerLag(): Promise<Array<{ topic: string; partition: number; lag: number }>>;
  /** How old the oldest stored row of each kind retention looks after is, in seconds. */
  oldestRows(): Promise<Record<string, number>>;
}

/** What this replica alone knows, read on scrape. */
export interface ReplicaProbes {
  /** Partitions with work waiting and no batch completing, and for how long. */
  stalledPartitions(): Array<{ topic: string; partition: number; seconds: number }>;
}

/** The bounds the worker runs with, which rules compare the state with. */
export interface MetricBounds {
  /** Per operation, how long after opening an approval expires (null: never). */
  expireAfterMs: Partial<Record<Operation, number | null>>;
  /** How long retention keeps each kind of row, and how often it runs. */
  retention: { keptMs: Record<string, number>; intervalMs: number };
  /** What this process runs (ROLE). */
  role: string;
}

export function createMetrics() {
  const registry = new Registry();
  const shared = new Registry();
  collectDefaultMetrics({ register: registry });
  const metric = { registers: [registry] };
  const state = { registers: [shared] };
  let probes: (StateProbes & ReplicaProbes) | undefined;
  let onStateFailure: (error: unknown) => void = () => undefined;

  // The shared state, read on scrape by the lease holder.
  const reporter = new Gauge({ ...state, name: 'cardapproval_state_reporter', help: 'Always 1, served by the one replica that serves the state read from the database and the consumer group (the holder of the state lease); absent from the others' });
  const outboxBacklog = new Gauge({ ...state, name: 'cardapproval_outbox_backlog', help: 'Rows waiting in an outbox', labelNames: ['outbox'] as const });
  const parked = new Gauge({ ...state, name: 'cardapproval_outbox_parked', help: 'Rows parked for good in an outbox (an event parked holds back the later events of its request)', labelNames: ['outbox'] as const });
  const emailsOverdue = new Gauge({ ...state, name: 'cardapproval_emails_overdue_seconds', help: 'How long the email due longest has been due without being sent (0: none is): a growing value means no relay sends, because none runs (no ROLE=relays or all process) or its sends hang' });
  const pending = new Gauge({ ...state, name: 'cardapproval_pending_approvals', help: 'Approval requests still pending', labelNames: ['operation'] as const });
  const oldestPending = new Gauge({ ...state, name: 'cardapproval_oldest_pending_age_seconds', help: 'Age of the oldest pending approval of each operation (absent: none pending)', labelNames: ['operation'] as const });
  const timersWaiting = new Gauge({ ...state, name: 'cardapproval_timers_waiting', help: 'Pending approvals with a reminder, escalation or expiry still to fire' });
  const timersOverdue = new Gauge({ ...state, name: 'cardapproval_timers_overdue_seconds', help: 'How far past due the most overdue timer is (0: none is); a growing value means timers are not firing' });
  const timersParkedNow = new Gauge({ ...state, name: 'cardapproval_timers_parked', help: 'Timers parked because they failed on their own (card-approvals timers parked)' });
  const oldestRow = new Gauge({ ...state, name: 'cardapproval_oldest_row_age_seconds', help: 'How old the oldest stored row of each kind is (since sent, published, closed, written or ended; 0: none): retention keeps each below its setting', labelNames: ['kind'] as const });
  const lag = new Gauge({ ...state, name: 'cardapproval_consumer_lag', help: "Messages not yet committed by the worker's consumer group, per partition", labelNames: ['topic', 'partition'] as const });

  // Read once per scrape, however many scrapes ask at once.
  let reading: Promise<string> | undefined;
  const readState = (): Promise<string> =>
    (reading ??= (async () => {
      if (!probes) return '';
      try {
        if (!(await probes.reportsState())) return '';
        const [backlog, approvals, timers, oldest, lags] = await Promise.all([
          probes.outboxBacklog(),
          probes.pendingApprovals(),
          probes.timers(),
          probes.oldestRows(),
          // A broker away leaves the lag out, not the database's state.
          probes.consumerLag().catch(() => [] as Array<{ topic: string; partition: number; lag: number }>),
        ]);
        reporter.set(1);
        outboxBacklog.set({ outbox: 'events' }, backlog.events);
        outboxBacklog.set({ outbox: 'emails' }, backlog.emails);
        parked.set({ outbox: 'events' }, backlog.parkedEvents);
        parked.set({ outbox: 'emails' }, backlog.parkedEmails);
        emailsOverdue.set(backlog.emailsOverdueSeconds);
        pending.reset();
        oldestPending.reset();
        for (const [operation, { pending: count, oldestAgeSeconds }] of Object.entries(approvals)) {
          pending.set({ operation }, count);
          oldestPending.set({ operation }, oldestAgeSeconds);
        }
        timersWaiting.set(timers.waiting);
        timersOverdue.set(timers.overdueSeconds);
        timersParkedNow.set(timers.parked);
        for (const [kind, seconds] of Object.entries(oldest)) oldestRow.set({ kind }, seconds);
        lag.reset();
        for (const l of lags) lag.set({ topic: l.topic, partition: String(l.partition) }, l.lag);
        return await shared.metrics();
      } catch (error) {
        // The replica's own metrics are still served: a database away is not a worker down.
        // Without the state, cardapproval_state_reporter is absent, and its alert says so.
        onStateFailure(error);
        return '';
      }
    })().finally(() => (reading = undefined)));

  const stalled = new Gauge({
    ...metric,
    name: 'cardapproval_partition_stalled_seconds',
    help: 'How long a partition this replica consumes has had work waiting with no batch completing (absent: none waiting)',
    labelNames: ['topic', 'partition'] as const,
    collect() {
      this.reset();
      for (const s of probes?.stalledPartitions() ?? []) this.set({ topic: s.topic, partition: String(s.partition) }, s.seconds);
    },
  });
  const role = new Gauge({ ...metric, name: 'cardapproval_worker_info', help: 'Always 1, labelled with the ROLE this process runs (all, consumer or relays): rules count the processes of each role', labelNames: ['role'] as const });
  const expireAfter = new Gauge({ ...metric, name: 'cardapproval_policy_expire_after_seconds', help: 'How long after opening an approval of each operation expires, by APPROVAL_TIMERS (absent: never)', labelNames: ['operation'] as const });
  const retentionPeriod = new Gauge({ ...metric, name: 'cardapproval_retention_period_seconds', help: 'How long retention keeps each kind of row (OUTBOX_RETENTION, CLOSED_APPROVAL_RETENTION, DELEGATION_RETENTION)', labelNames: ['kind'] as const });
  const retentionInterval = new Gauge({ ...metric, name: 'cardapproval_retention_interval_seconds', help: 'How often retention runs (RETENTION_INTERVAL)' });

  const transitions = new Counter({ ...metric, name: 'cardapproval_transitions_total', help: 'Approval state changes, by event type', labelNames: ['type'] as const });
  const refusals = new Counter({ ...metric, name: 'cardapproval_refusals_total', help: 'Decisions refused, by refusal code', labelNames: ['code'] as const });
  const byType: Partial<Record<Transition['event']['type'], Counter>> = {
    REMINDED: new Counter({ ...metric, name: 'cardapproval_reminders_total', help: 'Reminders sent to approvers who had not decided' }),
    ESCALATED: new Counter({ ...metric, name: 'cardapproval_escalations_total', help: 'Pending approvals offered to their escalation group' }),
    EXPIRED: new Counter({ ...metric, name: 'cardapproval_expired_total', help: 'Approvals that ended EXPIRED: nobody decided in time' }),
    CANCELLED: new Counter({ ...metric, name: 'cardapproval_withdrawn_total', help: 'Approvals withdrawn (ended CANCELLED) by their requester, an operator or upstream' }),
    VOTED: new Counter({ ...metric, name: 'cardapproval_votes_total', help: 'Approvals and rejections counted under policies that need more than one vote (ALL, QUORUM, stages)' }),
    REASSIGNED: new Counter({ ...metric, name: 'cardapproval_reassignments_total', help: "Approvers' parts in a request handed to another person by an operator" }),
    PARTIALLY_APPROVED: new Counter({ ...metric, name: 'cardapproval_partially_approved_total', help: 'Multi-card requests that ended with some cards approved and some rejected' }),
  };
  const delegated = new Counter({ ...metric, name: 'cardapproval_delegated_decisions_total', help: 'Decisions a delegate made for an approver' });

  return {
    /** The replica's own metrics. */
    registry,
    /** The shared state's metrics (served by one replica at a time). */
    sharedRegistry: shared,
    /** What /metrics serves: the replica's own metrics, and the shared state where this replica serves it. */
    async exposition(): Promise<{ contentType: string; text: string }> {
      const [own, state] = await Promise.all([registry.metrics(), readState()]);
      return { contentType: registry.contentType, text: own + state };
    },
    /** Where the scraped gauges are read from; `onFailure` hears of a shared-state read that failed. */
    useProbes(p: StateProbes & ReplicaProbes, onFailure: (error: unknown) => void) {
      probes = p;
      onStateFailure = onFailure;
    },
    /** The bounds of this replica's configuration, set once at start-up. */
    setBounds(bounds: MetricBounds) {
      for (const [operation, ms] of Object.entries(bounds.expireAfterMs)) if (ms !== null) expireAfter.set({ operation }, ms / 1000);
      for (const [kind, ms] of Object.entries(bounds.retention.keptMs)) retentionPeriod.set({ kind }, ms / 1000);
      retentionInterval.set(bounds.retention.intervalMs / 1000);
      role.set({ role: bounds.role }, 1);
    },
    messagesConsumed: new Counter({ ...metric, name: 'cardapproval_messages_consumed_total', help: 'Messages consumed, by topic and outcome', labelNames: ['topic', 'outcome'] as const }),
    batchSeconds: new Histogram({
      ...metric,
      name: 'cardapproval_batch_processing_seconds',
      help: 'Time from receiving a batch to committing its offset',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    }),
    deadLetters: new Counter({ ...metric, name: 'cardapproval_dead_letters_total', help: 'Messages sent to the dead-letter topic, by reason', labelNames: ['reason'] as const }),
    defects: new Counter({
      ...metric,
      name: 'cardapproval_worker_defects_total',
      help: 'Failures that are defects of ours (a bug, or code that does not match its database), by where they were met; each is logged at error level with its stack',
      labelNames: ['component'] as const,
    }),
    refusals,
    transitions,
    /** Counts state changes by type, refusals by code, and the timer and withdrawal outcomes by name. */
    countTransitions(done: Transition[]) {
      // Counted per label first: a labelled inc costs a lookup of its labels, and a batch holds hundreds.
      const types = new Map<Transition['event']['type'], number>();
      const codes = new Map<string, number>();
      for (const { event } of done) {
        types.set(event.type, (types.get(event.type) ?? 0) + 1);
        if (event.refusalCode) codes.set(event.refusalCode, (codes.get(event.refusalCode) ?? 0) + 1);
        if (event.decision?.onBehalfOf && event.type !== 'DECISION_REFUSED' && event.eventId === eventIdFor.decision(event.decision)) delegated.inc();
      }
      for (const [type, n] of types) {
        transitions.inc({ type }, n);
        byType[type]?.inc(n);
      }
      for (const [code, n] of codes) refusals.inc({ code }, n);
    },
    retentionRemoved: new Counter({ ...metric, name: 'cardapproval_retention_removed_total', help: 'Rows retention removed, by kind (a closed approval counts once, with its history and decisions)', labelNames: ['kind'] as const }),
    eventsPublished: new Counter({ ...metric, name: 'cardapproval_events_published_total', help: 'Events published to the events topic' }),
    emailSeconds: new Histogram({
      ...metric,
      name: 'cardapproval_email_send_seconds',
      help: 'SMTP send latency',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 15],
    }),
    timersParked: new Counter({ ...metric, name: 'cardapproval_timers_parked_total', help: 'Timers parked after failing on their own' }),
    eventsParked: new Counter({ ...metric, name: 'cardapproval_events_parked_total', help: 'Events parked after EVENT_PUBLISH_MAX_ATTEMPTS failed attempts of their own' }),
    emailLeasesLost: new Counter({ ...metric, name: 'cardapproval_email_leases_lost_total', help: 'Emails whose lease ran out before this relay sent or marked them (another relay took them over)' }),
    emailsSent: new Counter({ ...metric, name: 'cardapproval_emails_sent_total', help: 'Emails the SMTP server accepted' }),
    emailFailures: new Counter({ ...metric, name: 'cardapproval_email_failures_total', help: 'Failed email sends: retried or parked', labelNames: ['result'] as const }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** A Markdown table of metric declarations. */
function metricTable(declared: MetricObject[]): string {
  const cell = (value: string): string => value.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const rows = [...declared]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((m) => {
      const labels = ((m as unknown as { labelNames?: readonly string[] }).labelNames ?? []).map((l) => `\`${l}\``).join(', ');
      const type = String(m.type) === 'histogram' ? 'histogram (`_bucket{le}`, `_sum`, `_count`)' : String(m.type);
      return `| \`${m.name}\` | ${type} | ${labels} | ${cell(m.help)} |`;
    });
  return ['| metric | type | labels | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The metrics reference (docs/metrics.md), made from the declarations. */
export function metricsReference(): string {
  const { registry, sharedRegistry } = createMetrics();
  const own = registry.getMetricsAsArray();
  const ours = own.filter((m) => m.name.startsWith('cardapproval_'));
  const node = own.filter((m) => !m.name.startsWith('cardapproval_'));
  return [
    '# Metrics reference',
    '',
    '<!-- Generated from src/libraries/metrics.ts by `npm run docs`; a test fails when it is stale. Do not edit by hand. -->',
    '',
    'Every worker serves these at `GET /metrics` in the Prometheus text format: on `METRICS_PORT` where',
    'it is set, otherwise on `HTTP_PORT`. Prometheus adds `job` and `instance` (and what its',
    'relabelling adds, such as `pod`). The alerts on them are in `deploy/prometheus/rules.yml`, what',
    'to do about each in [the runbook](runbook.md), and a Grafana dashboard in',
    '`deploy/grafana/card-approvals.json`.',
    '',
    '## Each replica\'s own',
    '',
    'What this replica did (counters and histograms: `sum()` them over replicas), the partitions it',
    'consumes, its role, and the bounds of its configuration that rules compare the state with.',
    '',
    metricTable(ours),
    '',
    '## The shared state, served by one replica at a time',
    '',
    'Read on scrape from the database and the consumer group. Every replica would read the same',
    'values, so that `sum()` over replicas would multiply them; only the holder of the state lease (a',
    'row in `maintenance_leases`) serves them. Each of its scrapes renews the lease; once the holder',
    `has gone ${STATE_LEASE_MS / 1000} s without a scrape, or stopped, the next replica scraped takes it. So scrape`,
    `every replica more often than every ${STATE_LEASE_MS / 1000} s. \`sum()\` and \`max()\` over replicas both give the value;`,
    'around a hand-over the last samples of two replicas can overlap for one scrape, so the rules take',
    '`max()`. When the state cannot be read (the database away), no replica serves it, the replicas',
    'still serve their own metrics, and `cardapproval_state_reporter` is absent. Only processes that',
    'consume (`ROLE` `all` or `consumer`) take the lease, since they alone reach the consumer group: a',
    '`ROLE=relays` process serves its own metrics only, and while no consumer is up nobody serves the state.',
    '',
    metricTable(sharedRegistry.getMetricsAsArray()),
    '',
    '## Node\'s process metrics',
    '',
    "prom-client's default metrics, under their standard names (no prefix), as stock Node.js dashboards",
    'read them.',
    '',
    metricTable(node),
    '',
  ].join('\n');
}
