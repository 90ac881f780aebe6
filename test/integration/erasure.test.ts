// A person's data on request and their erasure, through the operators' CLI and the worker's API,
// against the real broker, registry, database and SMTP server: after an erasure no column of any
// table names them, every history still reads, their pending approvals ended or moved as the rule
// says, and a second run changes nothing.
import { aDecision, aPerson, aRequest, aCard } from '../support/builders';
import { runCli } from '../support/cli';
import { mintLocalToken } from '../../src/entry-points/http/auth';
import type { CardOperationRequest, Person } from '../../src/domain/card-operation';
import { ERASED_NO_APPROVER_LEFT, ERASED_REASON } from '../../src/domain/erase-person';
import { pollUntil } from '../../src/libraries/retry';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';

const group = aPerson('group-member');
let harness: Harness;
let base: string;
let operatorToken: string;

beforeAll(async () => {
  ({ harness, base } = await startHarnessWithWorker({ AUTH_SECRET: TEST_AUTH_SECRET, APPROVER_GROUPS: JSON.stringify({ REQUEST_CARD: [group] }) }));
  operatorToken = await mintLocalToken(harness.config.auth, { ...aPerson('operator'), roles: ['operator'] });
});
afterAll(() => harness?.stop());

const cli = (...args: string[]) => runCli({ ...harness.env, CARD_APPROVALS_API_URL: base, CARD_APPROVALS_TOKEN: operatorToken }, ...args);

async function opened(request: CardOperationRequest): Promise<CardOperationRequest> {
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  return request;
}

/** Every text and jsonb column of every table, and the rows in which `needle` occurs, in any case. */
async function rowsHolding(needle: string): Promise<string[]> {
  const columns: Array<{ table_name: string; column_name: string }> = await harness.db.query(
    `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND data_type IN ('text', 'jsonb', 'character varying')`,
  );
  const found: string[] = [];
  for (const { table_name: table, column_name: column } of columns) {
    const [row]: Array<{ n: number }> = await harness.db.query(`SELECT count(*)::int AS n FROM "${table}" WHERE strpos(lower("${column}"::text), lower($1)) > 0`, [needle]);
    if (row!.n > 0) found.push(`${table}.${column} (${row!.n})`);
  }
  return found;
}

test('when a requester, holder and approver is erased, then no column names them, every history reads, their pending approvals ended or moved, and a second run changes nothing', async () => {
  const person = aPerson('erasee', { name: 'Karin Lindqvist-Erasmus' });
  const other = aPerson('approver');
  const requestedClosed = await opened(aRequest('LOCK_CARD', { requester: person, approvers: [other, aPerson('approver')] }));
  await harness.publishDecision(aDecision(requestedClosed, 'APPROVED', { approver: other }));
  const rejected = await opened(aRequest('DEACTIVATE_CARD', { requester: person, approvers: [other, aPerson('approver')] }));
  await harness.publishDecision(aDecision(rejected, 'REJECTED', { approver: other, reason: `Karin Lindqvist-Erasmus (${person.email}) has a card already` }));
  const holding = await opened(aRequest('LOCK_CARD', { cards: [aCard(person)] }));
  const approvingWithGroup = await opened(aRequest('REQUEST_CARD', { approvers: [person, other] }));
  const approvingWithoutGroup = await opened(aRequest('REACTIVATE_CARD', { approvers: [person, other] }));
  const decidedByThem = await opened(aRequest('LOCK_CARD', { approvers: [person, other] }));
  await harness.publishDecision(aDecision(decidedByThem, 'APPROVED', { approver: person }));
  for (const r of [requestedClosed, rejected, decidedByThem]) await harness.waitForEvents(r.requestId, 2);
  expect(await rowsHolding(person.email)).not.toEqual([]);

  const { stdout } = await cli('erase', '--person', person.email.toUpperCase());
  const report = JSON.parse(stdout) as { pseudonym: Person; withdrawn: string[]; reassigned: Array<{ requestId: string; to: string }>; rows: Record<string, number> };
  expect(report.pseudonym.name).toMatch(/^erased person \d+$/);
  expect(report.withdrawn.sort()).toEqual([holding.requestId, approvingWithoutGroup.requestId].sort());
  expect(report.reassigned).toEqual([{ requestId: approvingWithGroup.requestId, to: group.id }]);

  // Nothing stored names them, by name or address, in any column of any table.
  expect(await rowsHolding(person.email)).toEqual([]);
  expect(await rowsHolding(person.name)).toEqual([]);
  expect(await rowsHolding(person.id)).toEqual([]);

  // The audit trail still verifies: their digests are of a key destroyed, the reason naming them redacted.
  const verified = await cli('audit', 'verify', '--all');
  expect(verified.stdout).toMatch(/every chain holds/);
  expect(verified.stdout).toMatch(/[1-9]\d* erased digest\(s\), 1 redacted/);

  // Their pending approvals ended or moved, as the rule says; the events that say so name the pseudonym.
  const [, cancelled] = await harness.waitForEvents(holding.requestId, 2);
  expect(cancelled).toMatchObject({ type: 'CANCELLED', status: 'CANCELLED', decision: { reason: ERASED_REASON } });
  expect(cancelled!.cards[0]!.holder).toMatchObject({ id: report.pseudonym.id, name: report.pseudonym.name, email: report.pseudonym.email });
  const [, withdrawn] = await harness.waitForEvents(approvingWithoutGroup.requestId, 2);
  expect(withdrawn).toMatchObject({ type: 'CANCELLED', decision: { reason: ERASED_NO_APPROVER_LEFT } });
  const [, moved] = await harness.waitForEvents(approvingWithGroup.requestId, 2);
  expect(moved).toMatchObject({ type: 'REASSIGNED', status: 'PENDING' });
  expect(moved!.approvers.map((a) => a.id).sort()).toEqual([group.id, other.id].sort());

  // Every history reads, under the pseudonym.
  for (const r of [requestedClosed, rejected, holding, approvingWithGroup, approvingWithoutGroup, decidedByThem]) {
    const answer = await fetch(`${base}/api/requests/${r.requestId}`, { headers: { authorization: `Bearer ${operatorToken}` } });
    expect(answer.status).toBe(200);
    const { history } = (await answer.json()) as { history: unknown[] };
    expect(history.length).toBeGreaterThanOrEqual(2);
  }
  const shown = (await (await fetch(`${base}/api/requests/${decidedByThem.requestId}`, { headers: { authorization: `Bearer ${operatorToken}` } })).json()) as { history: Array<{ actor: Person | null }> };
  expect(shown.history.map((h) => h.actor?.name)).toContain(report.pseudonym.name);

  // Run again: nobody is found, nothing changes.
  const again = JSON.parse((await cli('erase', '--person', person.email)).stdout) as typeof report;
  expect(again).toEqual({ pseudonym: null, withdrawn: [], reassigned: [], rows: {}, emailsDropped: 0 });
  await pollUntil(async () => (await harness.db.query(`SELECT count(*)::int AS n FROM approval_events WHERE published_at IS NULL`))[0].n, (n: number) => n === 0, { what: 'the erasure\'s events to be published' });
}, 120_000);

test('when a person asks for their data, then the export holds exactly the records, decisions and history entries naming them', async () => {
  const person = aPerson('asking');
  const someoneElse = aPerson('requester');
  const theirs = await opened(aRequest('LOCK_CARD', { requester: person }));
  const decidedByThem = await opened(aRequest('LOCK_CARD', { requester: someoneElse, approvers: [person, aPerson('approver')] }));
  const approval = aDecision(decidedByThem, 'APPROVED', { approver: person });
  await harness.publishDecision(approval);
  const notTheirs = await opened(aRequest('LOCK_CARD', { requester: someoneElse }));
  await harness.publishDecision(aDecision(notTheirs, 'APPROVED', { approver: notTheirs.approvers[0]! }));
  await harness.waitForEvents(decidedByThem.requestId, 2);
  await harness.waitForEvents(notTheirs.requestId, 2);

  const exported = JSON.parse((await cli('export', '--person', person.id)).stdout) as {
    person: { emails: string[] };
    records: Array<{ request_id: string }>;
    decisions: Array<{ decision_id: string }>;
    history: Array<{ event_id: string }>;
  };
  expect(exported.person.emails).toEqual([person.email.toLowerCase()]);
  expect(exported.records.map((r) => r.request_id).sort()).toEqual([theirs.requestId, decidedByThem.requestId].sort());
  expect(exported.decisions.map((d) => d.decision_id)).toEqual([approval.decisionId]);
  // The history entries naming them: their own request's opening (they are its requester) and their approval.
  const naming: Array<{ event_id: string }> = await harness.db.query(
    `SELECT event_id FROM approval_history WHERE lower(actor->>'id') = lower($1) OR lower(decision->'approver'->>'id') = lower($1) ORDER BY seq`,
    [person.id],
  );
  expect(naming.length).toBeGreaterThanOrEqual(2);
  expect(exported.history.map((h) => h.event_id)).toEqual(naming.map((h) => h.event_id));
  await expect(cli('export', '--person', 'nobody-here@example.com')).rejects.toMatchObject({ code: 1 });
});
