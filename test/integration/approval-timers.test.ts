// Approvals that always end, against the real stack with policy durations of seconds: reminders,
// escalation and expiry with their emails and events in order; a request's own due date; a
// decision racing expiry; and workers stopped and killed while timers fire, with nothing sent twice.
import { randomUUID } from 'node:crypto';
import type { ApprovalEvent } from '../../src/domain/approval';
import type { CardOperationRequest, Person } from '../../src/domain/card-operation';
import { OperationalQueries } from '../../src/data-access/operational-queries';
import { pollUntil } from '../../src/libraries/retry';
import { aDecision, aPerson, aRequest } from '../support/builders';
import { emailsTo, messageIdOf, waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';
import { JOINED_GROUP, startWorkerProcess } from '../support/worker-process';

const run = randomUUID().slice(0, 8);
const escalation: Person[] = [
  { id: `security-officer-${run}`, name: 'Security Officer', email: `security-officer-${run}@example.com`, locale: null },
  { id: `deputy-${run}`, name: 'Deputy Manager', email: `deputy-${run}@example.com`, locale: null },
];
/** LOCK_CARD: the whole ladder in seconds. REQUEST_CARD: only its own dueAt can expire it soon. DEACTIVATE_CARD: expiry alone. */
const APPROVAL_TIMERS = JSON.stringify({
  LOCK_CARD: { remindAfter: '1500ms', remindIntervalMax: '3s', escalateAfter: '3s', escalateTo: escalation, expireAfter: '7s' },
  REQUEST_CARD: { remindAfter: null, expireAfter: '1h' },
  DEACTIVATE_CARD: { remindAfter: null, expireAfter: '2s' },
  REACTIVATE_CARD: { remindAfter: '1s', remindIntervalMax: '2s', escalateAfter: '2s', escalateTo: escalation, expireAfter: '8s' },
});

let harness: Harness;
beforeAll(async () => {
  // Short leases, so what a killed worker held is taken over in seconds.
  harness = await startHarness({ APPROVAL_TIMERS, OUTBOX_LEASE_MS: '5000', SMTP_SEND_TIMEOUT_MS: '3000' });
});
afterAll(() => harness?.stop());

/** The distinct events of a request, in the order first seen (a redelivered event is one event). */
const distinct = (events: ApprovalEvent[]): ApprovalEvent[] => [...new Map(events.map((e) => [e.eventId, e])).values()];

function waitForEnd(requestId: string, timeoutMs = 40_000): Promise<ApprovalEvent[]> {
  return pollUntil(
    async () => distinct(harness.eventsFor(requestId)),
    (events) => events.some((e) => e.status !== 'PENDING' && e.type !== 'DECISION_REFUSED'),
    { timeoutMs, what: `the end of ${requestId}` },
  );
}

/** Every email to these people: none may arrive twice (one Message-ID each). */
async function expectNoEmailTwice(people: Person[]): Promise<void> {
  for (const person of people) {
    const ids = (await emailsTo(person.email)).map(messageIdOf);
    expect({ to: person.email, copies: ids.length - new Set(ids).size }).toEqual({ to: person.email, copies: 0 });
  }
}

describe('with one worker', () => {
  let base: string;
  beforeAll(async () => {
    base = `http://127.0.0.1:${(await harness.startWorker()).httpPort}`;
  });

  test('when nobody decides, then the approvers are reminded, the escalation group is asked and becomes approvers, and the request expires, with the emails and events in order', async () => {
    const request = aRequest('LOCK_CARD');
    await harness.publishRequest(request);
    const events = await waitForEnd(request.requestId);

    const types = events.map((e) => e.type);
    expect(types[0]).toBe('OPENED');
    expect(types.at(-1)).toBe('EXPIRED');
    expect(types.filter((t) => t === 'ESCALATED')).toHaveLength(1);
    expect(types.indexOf('REMINDED')).toBeLessThan(types.indexOf('ESCALATED'));
    const reminders = events.filter((e) => e.type === 'REMINDED');
    expect(reminders.map((e) => e.message)).toEqual(reminders.map((_, i) => `Reminder ${i + 1}: still waiting for a decision.`));
    const escalated = events.find((e) => e.type === 'ESCALATED')!;
    expect(escalated.approvers.map((p) => p.id)).toEqual([...request.approvers, ...escalation].map((p) => p.id));
    expect(events.at(-1)).toMatchObject({ status: 'EXPIRED', message: 'No decision within the time the operation allows.' });

    expect(await harness.record(request.requestId)).toMatchObject({ status: 'EXPIRED' });
    const [left] = await harness.db.query(`SELECT count(*)::int AS n FROM approval_timers WHERE request_id = $1`, [request.requestId]);
    expect(left.n).toBe(0);

    // Each approver: the request, then one reminder per REMINDED event.
    for (const approver of request.approvers) {
      const emails = await waitForEmails(approver.email, 1 + reminders.length);
      // Subjects stay under 70 characters: beside a 40-character request id, the requester's name
      // is cut and the operation left out (subject-line.ts).
      const requester = `${request.requester.name.slice(0, 3)}[^()]*`;
      expect(emails.map((e) => e.subject)).toEqual([
        expect.stringMatching(new RegExp(`^Approval needed: ${requester} \\(${request.requestId}\\)$`)),
        ...reminders.map(() => expect.stringMatching(new RegExp(`^Reminder: ${requester} \\(${request.requestId}\\)$`))),
      ]);
      for (const email of emails) expect(email.subject.length).toBeLessThan(70);
    }
    for (const member of escalation) {
      const emails = (await waitForEmails(member.email, 1)).filter((e) => e.subject.includes(request.requestId));
      expect(emails[0]!.subject).toMatch(new RegExp(`^Escalated to you: ${request.requester.name.slice(0, 3)}[^()]* \\(${request.requestId}\\)$`));
    }
    const [expired] = await waitForEmails(request.requester.email, 1);
    expect(expired!.subject).toBe(`Expired: Lock card (${request.requestId})`);
    expect(expired!.text).toContain('Your request expired on ');
    await expectNoEmailTwice([...request.approvers, request.requester]);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(value('cardapproval_reminders_total')).toBeGreaterThanOrEqual(reminders.length);
    expect(value('cardapproval_escalations_total')).toBeGreaterThanOrEqual(1);
    expect(value('cardapproval_expired_total')).toBeGreaterThanOrEqual(1);
    expect(value('cardapproval_timers_overdue_seconds')).toBeLessThan(60);
  });

  test('when a timer stays past due (its holder hangs), then readiness says so and names it, and is ready again once it fires', async () => {
    type Readiness = { status: number; body: { checks: Record<string, { ok: boolean; error?: string }> } };
    const ready = async (): Promise<Readiness> => {
      const res = await fetch(`${base}/health/consumer`);
      return { status: res.status, body: (await res.json()) as Readiness['body'] };
    };
    expect((await ready()).status).toBe(200);
    const requestId = `stuck-${randomUUID()}`;
    // Due ten minutes ago, leased for an hour by a worker that never finishes.
    await harness.db.query(
      `INSERT INTO approval_timers (request_id, expire_at, next_at, lease_until, lease_token)
       VALUES ($1, now() - interval '10 minutes', now() - interval '10 minutes', now() + interval '1 hour', gen_random_uuid())`,
      [requestId],
    );
    const stuck = await ready();
    expect(stuck.status).toBe(503);
    expect(stuck.body.checks.timers).toMatchObject({ ok: false, error: expect.stringMatching(/a timer is \d+s past due/) });
    // The lease runs out: a worker takes the timer over (it has no approval left, so it is cleared).
    await harness.db.query(`UPDATE approval_timers SET lease_until = now() - interval '1 second' WHERE request_id = $1`, [requestId]);
    await pollUntil(ready, (r) => r.status === 200, { timeoutMs: 15_000, what: 'ready again' });
  });

  test("when a request carries a dueAt sooner than its operation's expiry, then it expires at its dueAt", async () => {
    const request = aRequest('REQUEST_CARD', { dueAt: Date.now() + 1500 });
    await harness.publishRequest(request);
    const events = await waitForEnd(request.requestId);
    expect(events.map((e) => e.type)).toEqual(['OPENED', 'EXPIRED']);
    expect(events[0]!.dueAt).toBe(request.dueAt);
    expect(events[1]).toMatchObject({ message: "No decision by the request's due date." });
    expect(events[1]!.occurredAt).toBeGreaterThanOrEqual(request.dueAt!);
  });

  test('when a request with a nonsensical dueAt (microseconds) arrives, then it is dead-lettered with the field named, and the partition moves on', async () => {
    const request = aRequest('REQUEST_CARD', { dueAt: Date.now() * 1000 });
    const dead = await harness.deadLetterOf(request);
    expect(dead.headers['dlq.reason']).toBe('INVALID_CONTENT');
    expect(dead.headers['dlq.detail']).toContain('dueAt');
  });

  test('when one approval\'s timer fails on its own data, then it is parked with the reason, the timers beside it still fire, readiness stays green, and once unparked it fires', async () => {
    // The database refuses any change to the poisoned approval (a data exception, as bad data would raise).
    await harness.db.query(`CREATE OR REPLACE FUNCTION refuse_poisoned() RETURNS trigger AS $$
      BEGIN IF NEW.request_id LIKE 'poisoned-%' THEN RAISE EXCEPTION 'refused for the test' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
    await harness.db.query(`CREATE TRIGGER refuse_poisoned BEFORE UPDATE ON approval_requests FOR EACH ROW EXECUTE FUNCTION refuse_poisoned()`);
    try {
      const poisoned = aRequest('DEACTIVATE_CARD', { requestId: `poisoned-${randomUUID()}` });
      const others = Array.from({ length: 3 }, () => aRequest('DEACTIVATE_CARD'));
      await Promise.all([poisoned, ...others].map((r) => harness.publishRequest(r)));
      for (const other of others) expect((await waitForEnd(other.requestId)).at(-1)).toMatchObject({ type: 'EXPIRED' });
      const [parked] = await pollUntil<Array<{ last_error: string }>>(
        () => harness.db.query(`SELECT parked_at, last_error FROM approval_timers WHERE request_id = $1 AND parked_at IS NOT NULL`, [poisoned.requestId]),
        (rows) => rows.length === 1,
        { timeoutMs: 20_000, what: 'the poisoned timer parked' },
      );
      expect(parked!.last_error).toContain('refused for the test');
      expect((await fetch(`${base}/health/consumer`)).status).toBe(200);
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^cardapproval_timers_parked 1$/m);

      await harness.db.query(`DROP TRIGGER refuse_poisoned ON approval_requests`);
      expect(await new OperationalQueries(harness.db).unparkTimers([poisoned.requestId])).toBe(1);
      expect((await waitForEnd(poisoned.requestId)).at(-1)).toMatchObject({ type: 'EXPIRED' });
    } finally {
      await harness.db.query(`DROP TRIGGER IF EXISTS refuse_poisoned ON approval_requests`);
    }
  });

  test('when decisions race expiry, then each request ends exactly once: approved with no expiry after it, or expired with the late decision refused', async () => {
    const requests = Array.from({ length: 12 }, () => aRequest('DEACTIVATE_CARD'));
    await Promise.all(requests.map((r) => harness.publishRequest(r)));
    const opened = await Promise.all(requests.map((r) => harness.waitForEvents(r.requestId, 1)));
    // Decisions leave from 1.5 s to 4.8 s after each opened: around its 2 s expiry, which fires
    // on the first timer poll after it (polls are 1 s apart).
    await Promise.all(
      requests.map(async (request, i) => {
        const at = opened[i]![0]!.occurredAt + 1500 + i * 300;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
        await harness.publishDecision(aDecision(request, 'APPROVED'));
      }),
    );
    const outcomes = { APPROVED: 0, EXPIRED: 0 };
    for (const request of requests) {
      const events = await pollUntil(async () => distinct(harness.eventsFor(request.requestId)), (e) => e.length >= 3 || e.some((x) => x.type === 'APPROVED'), {
        timeoutMs: 30_000,
        what: `both outcomes of ${request.requestId}`,
      });
      const ends = events.filter((e) => e.type === 'APPROVED' || e.type === 'EXPIRED');
      expect(ends).toHaveLength(1);
      const end = ends[0]!.type as 'APPROVED' | 'EXPIRED';
      outcomes[end] += 1;
      expect(await harness.record(request.requestId)).toMatchObject({ status: end });
      if (end === 'EXPIRED') expect(events.at(-1)).toMatchObject({ type: 'DECISION_REFUSED', refusalCode: 'REQUEST_CLOSED' });
    }
    // No timer is left that could still fire on any of them.
    const [left] = await harness.db.query(`SELECT count(*)::int AS n FROM approval_timers WHERE request_id = ANY($1)`, [requests.map((r) => r.requestId)]);
    expect(left.n).toBe(0);
    console.info(`decision vs expiry race over ${requests.length} requests: ${outcomes.APPROVED} approved first, ${outcomes.EXPIRED} expired first`);
  });
});

describe('with workers stopped and killed while timers fire', () => {
  test('when one worker is killed (SIGKILL) and another stopped (SIGTERM) mid-ladder, then every request still ends EXPIRED once, with each reminder once and no email twice outside the killed send window', async () => {
    const killed = startWorkerProcess({ ...harness.env, SMTP_MAX_CONNECTIONS: '1' });
    await killed.logged(JOINED_GROUP);
    const stopped = await harness.startWorker();

    const requests: CardOperationRequest[] = Array.from({ length: 10 }, () => aRequest('REACTIVATE_CARD'));
    await Promise.all(requests.map((r) => harness.publishRequest(r)));
    // Mid-ladder: the first reminders are out, escalation and expiry are still to come.
    await pollUntil(async () => requests.filter((r) => harness.eventsFor(r.requestId).some((e) => e.type === 'REMINDED')).length, (n) => n >= 3, {
      timeoutMs: 30_000,
      what: 'the first reminders',
    });
    killed.child.kill('SIGKILL');
    await killed.exited;
    await stopped.stop();
    await harness.startWorker();

    for (const request of requests) {
      const events = await waitForEnd(request.requestId);
      const types = events.map((e) => e.type);
      expect(types[0]).toBe('OPENED');
      expect(types.at(-1)).toBe('EXPIRED');
      expect(types.filter((t) => t === 'ESCALATED').length).toBeLessThanOrEqual(1);
      const reminders = events.filter((e) => e.type === 'REMINDED').map((e) => e.message);
      expect(reminders).toEqual(reminders.map((_, i) => `Reminder ${i + 1}: still waiting for a decision.`));
    }
    // The killed worker had one SMTP connection: at most one email was between its send and its mark.
    const people = [...new Map([...escalation, ...requests.flatMap((r) => [r.requester, ...r.approvers])].map((p) => [p.email, p])).values()];
    let copies = 0;
    for (const person of people) {
      const ids = (await emailsTo(person.email)).map(messageIdOf);
      copies += ids.length - new Set(ids).size;
    }
    console.info(`timers across SIGKILL + SIGTERM: ${requests.length} requests, ${copies} email cop(ies)`);
    expect(copies).toBeLessThanOrEqual(1);
  });
});
