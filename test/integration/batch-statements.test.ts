// A batch's statements on a real database: the write prepared once per connection when named
// statements are on (DATABASE_PREPARED_STATEMENTS), and nothing prepared when they are off, as a
// transaction-mode pooler older than PgBouncer 1.21 needs. One connection, so the test reads what
// it holds prepared. (`npm run bench -- --pg-profile` counts the round trips.)
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { ApprovalStore } from '../../src/data-access/approval-store';
import { createDataSource, migrate } from '../../src/data-access/data-source';
import { ANY_RULE } from '../../src/domain/approval-policy';
import { DEFAULT_TIMER_POLICIES } from '../../src/domain/approval-timers';
import { DEFAULT_CARD_CONFLICT_POLICY } from '../../src/domain/card-conflicts';
import { handleCardOperationBatch } from '../../src/domain/handle-card-operation-batch';
import { dropDatabase, ensureDatabase } from '../stack/postgres';
import { aDecision, aPerson, aRequest } from '../support/builders';

const url = `postgres://postgres@127.0.0.1:5432/card_approvals_batch_${randomUUID().slice(0, 8)}`;
let db: DataSource;

beforeAll(async () => {
  await ensureDatabase(url);
  const migrating = await createDataSource(url, 2).initialize();
  await migrate(migrating);
  await migrating.destroy();
});

afterEach(async () => {
  await db?.destroy();
});

afterAll(async () => {
  await dropDatabase(url);
});

/** A request opened and then approved, by a store on a pool of one connection; the names that connection then holds prepared. */
async function openAndApprove(prepared: boolean, request = aRequest('LOCK_CARD')): Promise<{ status: unknown; preparedNames: string[] }> {
  db = await createDataSource(url, 1).initialize();
  const handle = handleCardOperationBatch({
    approvals: new ApprovalStore(db, { leaseMs: 30_000 }, prepared),
    rules: { messageIdDomain: 'batch.test', cardConflictPolicy: DEFAULT_CARD_CONFLICT_POLICY, timerPolicies: DEFAULT_TIMER_POLICIES },
    publishAfterCommit: () => undefined,
  });
  await handle([{ kind: 'request', request, stages: [{ name: 'approval', rule: ANY_RULE, approvers: request.approvers }] }]);
  await handle([{ kind: 'decision', decision: aDecision(request, 'APPROVED') }]);
  const [{ status }] = (await db.query('SELECT status FROM approval_requests WHERE request_id = $1', [request.requestId])) as [{ status: unknown }];
  const names = (await db.query('SELECT name FROM pg_prepared_statements ORDER BY name')) as Array<{ name: string }>;
  return { status, preparedNames: names.map((n) => n.name) };
}

test('with named statements on, the batch write is prepared on the connection and the request is approved', async () => {
  expect(await openAndApprove(true)).toEqual({ status: 'APPROVED', preparedNames: ['approval-save-v1'] });
});

test('with named statements off, nothing is prepared on the connection and the request is approved all the same', async () => {
  expect(await openAndApprove(false)).toEqual({ status: 'APPROVED', preparedNames: [] });
});

test.each([['without', ''], ['with', '$j$']])("ids and addresses holding quotes and backslashes, %s the literal's own tag, are read as they are", async (_, tag) => {
  const odd = (role: string): ReturnType<typeof aPerson> => aPerson(role, { id: `${role}-${randomUUID().slice(0, 8)}'${tag}\\'); --`, email: `o'brien+${randomUUID().slice(0, 8)}@example.com` });
  const request = aRequest('LOCK_CARD', { requestId: `req-${randomUUID()}'${tag}\\`, requester: odd('requester'), approvers: [odd('approver'), odd('approver')] });
  expect((await openAndApprove(true, request)).status).toBe('APPROVED');
  const [stored] = (await db.query('SELECT requester, approvers FROM approval_requests WHERE request_id = $1', [request.requestId])) as Array<{ requester: unknown; approvers: unknown }>;
  expect(stored).toEqual({ requester: request.requester, approvers: request.approvers });
});
