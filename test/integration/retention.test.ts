// Retention, with short times: published events and sent emails leave their outboxes while the
// history stays; a closed approval goes, with its history and decisions, once past its own time;
// a pending one never goes; parked rows wait for an operator; and the API answers as before.
// Rows are aged by moving their times back, so the test waits for retention, never for a clock.
import { Retention } from '../../src/data-access/retention';
import { mintLocalToken } from '../../src/entry-points/http/auth';
import { pollUntil } from '../../src/libraries/retry';
import { aDecision, aPerson, aRequest } from '../support/builders';
import { waitForEmails } from '../support/inbox';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';

let harness: Harness;
let base: string;
beforeAll(async () => {
  ({ harness, base } = await startHarnessWithWorker({
    AUTH_SECRET: TEST_AUTH_SECRET,
    OUTBOX_RETENTION: '1s',
    CLOSED_APPROVAL_RETENTION: '1h',
    DELEGATION_RETENTION: '1h',
    RETENTION_INTERVAL: '1s',
    UNKNOWN_REQUEST_WINDOW_MS: '1000',
  }));
});
afterAll(() => harness?.stop());

const count = async (sql: string, ...params: unknown[]): Promise<number> => Number((await harness.db.query(`SELECT count(*)::int AS n FROM ${sql}`, params))[0].n);
const until = (what: string, check: () => Promise<boolean>) => pollUntil(check, Boolean, { timeoutMs: 30_000, what });
const operator = () => mintLocalToken(harness.config.auth, { ...aPerson('operator'), roles: ['operator'] });

async function read(requestId: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/api/requests/${requestId}`, { headers: { authorization: `Bearer ${await operator()}` } });
  return { status: res.status, body: await res.json() };
}

test('published events and sent emails leave the outboxes, while the history and the records stay and the API reads them as before', async () => {
  const closed = aRequest('LOCK_CARD');
  const pending = aRequest('DEACTIVATE_CARD');
  await harness.publishRequest(closed, aDecision(closed, 'APPROVED'));
  await harness.publishRequest(pending);
  await harness.waitForEvents(closed.requestId, 2);
  await harness.waitForEvents(pending.requestId, 1);
  await waitForEmails(closed.requester.email, 1);

  await until('the outbox rows of both to be removed', async () =>
    (await count(`approval_events WHERE request_id = ANY($1)`, [closed.requestId, pending.requestId])) === 0 &&
    (await count(`email_outbox m WHERE m.recipient_email = ANY($1)`, [closed.requester.email, ...pending.approvers.map((a) => a.email)])) === 0,
  );
  expect((await read(closed.requestId)).body).toMatchObject({ record: { status: 'APPROVED' }, history: [{ type: 'OPENED' }, { type: 'APPROVED' }] });
  expect((await read(pending.requestId)).body).toMatchObject({ record: { status: 'PENDING' }, history: [{ type: 'OPENED' }] });
  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toMatch(/^cardapproval_retention_removed_total\{kind="published_events"\} [1-9]/m);
  expect(metrics).toMatch(/^cardapproval_retention_removed_total\{kind="sent_emails"\} [1-9]/m);
  expect(metrics).toMatch(/^cardapproval_oldest_row_age_seconds\{kind="history"\} /m);
});

test('a closed approval goes with its history and decisions once past its time; a pending one as old stays, and so do parked events', async () => {
  const closed = aRequest('LOCK_CARD');
  const recent = aRequest('LOCK_CARD');
  const pending = aRequest('REACTIVATE_CARD');
  await harness.publishRequest(closed, aDecision(closed, 'REJECTED'));
  await harness.publishRequest(recent, aDecision(recent, 'APPROVED'));
  await harness.publishRequest(pending);
  await Promise.all([harness.waitForEvents(closed.requestId, 2), harness.waitForEvents(recent.requestId, 2), harness.waitForEvents(pending.requestId, 1)]);
  // A reminder of the pending one that could not be published: parked two days ago, it waits for an operator.
  await harness.db.query(
    `INSERT INTO approval_events (event_id, request_id, type, payload, occurred_at, parked_at, publish_attempts, last_error)
     VALUES ($1, $2, 'REMINDED', '{}', now() - interval '2 days', now() - interval '2 days', 5, 'refused for the test')`,
    [`parked-${pending.requestId}`, pending.requestId],
  );
  // A day past CLOSED_APPROVAL_RETENTION: closed two days ago, and opened as long ago as the pending one.
  await harness.db.query(`UPDATE approval_requests SET closed_at = now() - interval '2 days', opened_at = now() - interval '3 days' WHERE request_id = $1`, [closed.requestId]);
  await harness.db.query(`UPDATE approval_requests SET opened_at = now() - interval '3 days' WHERE request_id = $1`, [pending.requestId]);

  await until('the old closed approval to be removed', async () => (await harness.record(closed.requestId)) === undefined);
  expect(await count(`approval_history WHERE request_id = $1`, closed.requestId)).toBe(0);
  expect(await count(`approval_decisions WHERE request_id = $1`, closed.requestId)).toBe(0);
  expect((await read(closed.requestId)).status).toBe(404);
  expect((await read(recent.requestId)).body).toMatchObject({ record: { status: 'APPROVED' }, history: [{ type: 'OPENED' }, { type: 'APPROVED' }] });
  expect((await read(pending.requestId)).body).toMatchObject({ record: { status: 'PENDING' }, history: [{ type: 'OPENED' }, { type: 'REMINDED' }] });
  expect(await count(`approval_events WHERE request_id = $1 AND parked_at IS NOT NULL`, pending.requestId)).toBe(1);
  // The pending approval is still the approver's task.
  const tasks = await fetch(`${base}/api/tasks`, { headers: { authorization: `Bearer ${await mintLocalToken(harness.config.auth, { ...pending.approvers[0]!, roles: ['approver'] })}` } });
  expect(((await tasks.json()) as { items: Array<{ requestId: string }> }).items.map((t) => t.requestId)).toEqual([pending.requestId]);
  expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^cardapproval_retention_removed_total\{kind="closed_approvals"\} [1-9]/m);
});

test('the history of a request that never came goes, with its refused decision, once past its time', async () => {
  const never = aRequest('LOCK_CARD');
  await harness.publishDecision(aDecision(never, 'APPROVED'));
  const [refused] = await harness.waitForEvents(never.requestId, 1);
  expect(refused).toMatchObject({ type: 'DECISION_REFUSED', refusalCode: 'UNKNOWN_REQUEST' });
  await harness.db.query(`UPDATE approval_history SET occurred_at = now() - interval '2 days' WHERE request_id = $1`, [never.requestId]);
  await until('its history to be removed', async () => (await count(`approval_history WHERE request_id = $1`, never.requestId)) === 0);
  expect(await count(`approval_decisions WHERE request_id = $1`, never.requestId)).toBe(0);
});

test('a delegation goes once it ended longer ago than its time; one in force stays', async () => {
  const [approver, delegate] = [aPerson('approver'), aPerson('delegate')];
  const insert = `INSERT INTO approval_delegations (approver, delegate, starts_at, ends_at, created_by) VALUES ($1, $2, $3, $4, $1) RETURNING delegation_id`;
  const [ended] = await harness.db.query(insert, [approver, delegate, new Date(Date.now() - 3 * 86_400_000), new Date(Date.now() - 2 * 86_400_000)]);
  const [inForce] = await harness.db.query(insert, [approver, delegate, new Date(Date.now() - 86_400_000), new Date(Date.now() + 86_400_000)]);
  await until('the ended delegation to be removed', async () => (await count(`approval_delegations WHERE delegation_id = $1`, ended.delegation_id)) === 0);
  expect(await count(`approval_delegations WHERE delegation_id = $1`, inForce.delegation_id)).toBe(1);
});

test('one worker at a time runs retention: a second cannot take the run while the first holds it', async () => {
  const retention = new Retention(harness.db);
  await harness.db.query(`UPDATE maintenance_leases SET holder = 'someone', held_until = now() + interval '1 minute', next_run_at = now() WHERE name = 'retention'`);
  expect(await retention.claim('me', 60_000)).toBe(false);
  // A holder whose lease ran out (its worker died) gives the run up.
  await harness.db.query(`UPDATE maintenance_leases SET held_until = now() - interval '1 second' WHERE name = 'retention'`);
  const claims = await Promise.all([retention.claim('me', 60_000), retention.claim('you', 60_000)]);
  expect(claims.filter(Boolean)).toHaveLength(1);
  await retention.finish(claims[0] ? 'me' : 'you', 1000);
});
