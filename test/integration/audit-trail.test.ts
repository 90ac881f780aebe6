// The audit trail against the real stack: a request's lifecycle makes its history, the database
// chains it, and `card-approvals audit verify` (through the worker's API) passes; one stored row
// changed, removed or forged behind the worker's back is named, exactly that row and nothing else;
// an erased person's digests are counted, not failed; the export holds the decisions, in CSV and
// JSON. The database's hashes and the TypeScript recomputation agree on hostile text; the history
// stored before the chain is chained by the migration.
import fc from 'fast-check';
import { AuditTrail } from '../../src/data-access/audit-trail';
import { createDataSource, migrate } from '../../src/data-access/data-source';
import { AuditChain1765400000000 } from '../../src/data-access/migrations/1765400000000-audit-chain';
import type { CardOperationRequest, Person } from '../../src/domain/card-operation';
import { DECISION_COLUMNS } from '../../src/entry-points/http/audit-api';
import { mintLocalToken } from '../../src/entry-points/http/auth';
import { aDecision, aPerson, aRequest } from '../support/builders';
import { runCli } from '../support/cli';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';
import { dropDatabase, ensureDatabase } from '../stack/postgres';

let harness: Harness;
let base: string;
let operator: string;
const startedAt = new Date().toISOString();
beforeAll(async () => {
  ({ harness, base } = await startHarnessWithWorker({ AUTH_SECRET: TEST_AUTH_SECRET }));
  operator = await mintLocalToken(harness.config.auth, { ...aPerson('operator'), roles: ['operator'] });
});
afterAll(() => harness?.stop());

const cli = (...args: string[]) => runCli({ CARD_APPROVALS_API_URL: base, CARD_APPROVALS_TOKEN: operator }, ...args);
/** The CLI's output and exit code, whether it passed or failed. */
const cliOutcome = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  cli(...args).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
const verified = async (requestId: string) => {
  const res = await fetch(`${base}/api/audit/verification?request=${encodeURIComponent(requestId)}`, { headers: { authorization: `Bearer ${operator}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { requests: number; entries: number; erasedDigests: number; redacted: number; problems: Array<Record<string, unknown>> };
};

interface Entry {
  seq: string;
  event_id: string;
  type: string;
  hash: string;
  prev_hash: string | null;
}
const historyOf = (requestId: string): Promise<Entry[]> => harness.db.query('SELECT h.seq::text, h.event_id, h.type, h.hash, h.prev_hash FROM approval_history h WHERE h.request_id = $1 ORDER BY h.seq', [requestId]);

/** Draws numbers from the history's sequence and drops them, as a rolled-back transaction does: a gap in seq. */
const gapInSeq = () => harness.db.query(`SELECT nextval('approval_events_seq_seq') FROM generate_series(1, 2)`);

/** A request opened, postponed by one approver and rejected by the other, with gaps in seq between: three entries. */
async function lifecycle(reasons: { postponed?: string; rejected?: string } = {}): Promise<{ request: CardOperationRequest; first: Person; second: Person; entries: Entry[] }> {
  const request = aRequest('LOCK_CARD');
  const [first, second] = request.approvers as [Person, Person];
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  await gapInSeq();
  await harness.publishDecision(aDecision(request, 'POSTPONED', { approver: second, reason: reasons.postponed ?? 'Next week, after the "audit"' }));
  await harness.waitForEvents(request.requestId, 2);
  await gapInSeq();
  await harness.publishDecision(aDecision(request, 'REJECTED', { approver: first, reason: reasons.rejected ?? 'Card holder left' }));
  await harness.waitForEvents(request.requestId, 3);
  const entries = await historyOf(request.requestId);
  expect(entries.map((e) => e.type)).toEqual(['OPENED', 'POSTPONED', 'REJECTED']);
  return { request, first, second, entries };
}

test('when a lifecycle made a history, then each entry is chained to the one before, and audit verify passes and counts it', async () => {
  const { request, entries } = await lifecycle();
  expect(entries[0]!.prev_hash).toBeNull();
  expect(entries[1]!.prev_hash).toBe(entries[0]!.hash);
  expect(entries[2]!.prev_hash).toBe(entries[1]!.hash);
  // No name or address in what the chain stores beside the history: only digests.
  const [chain] = await harness.db.query(`SELECT string_agg(concat_ws(' ', digest_key, actor_digest, reason_digest, prev_hash, hash), ' ') AS text FROM approval_history WHERE request_id = $1`, [request.requestId]);
  for (const person of [request.requester, ...request.approvers]) for (const value of [person.id, person.name, person.email]) expect(chain.text).not.toContain(value);

  const one = await cliOutcome('audit', 'verify', '--request', request.requestId);
  expect(one).toMatchObject({ code: 0, stdout: '1 request(s), 3 entries, 0 erased digest(s), 0 redacted, 0 trimmed by retention\nevery chain holds\n' });
  expect((await cliOutcome('audit', 'verify', '--since', startedAt)).code).toBe(0);
  expect((await cliOutcome('audit', 'verify', '--all')).stdout).toMatch(/every chain holds/);
}, 60_000);

/** The one stored row each tampering touches, and what verify must say of it. */
test.each<[string, (l: Awaited<ReturnType<typeof lifecycle>>) => Promise<{ kind: string; entry: Entry; after?: Entry; missingHash?: string }>]>([
  [
    'a fact column (the type) of the newest entry changed',
    async ({ entries: [, , rejected] }) => {
      await harness.db.query(`UPDATE approval_history SET type = 'APPROVED', status_after = 'APPROVED' WHERE seq = $1`, [rejected!.seq]);
      return { kind: 'CHANGED', entry: rejected! };
    },
  ],
  [
    'the reason of an entry in the middle changed',
    async ({ entries: [, postponed] }) => {
      await harness.db.query(`UPDATE approval_history SET reason = 'Fine by me' WHERE seq = $1`, [postponed!.seq]);
      return { kind: 'CHANGED', entry: postponed! };
    },
  ],
  [
    'the actor of an entry changed to someone with no key',
    async ({ entries: [, , rejected] }) => {
      await harness.db.query(`UPDATE approval_history SET actor = jsonb_set(actor, '{id}', '"somebody-else"') WHERE seq = $1`, [rejected!.seq]);
      return { kind: 'CHANGED', entry: rejected! };
    },
  ],
  [
    'an entry in the middle deleted',
    async ({ entries: [opened, postponed, rejected] }) => {
      await harness.db.query(`DELETE FROM approval_history WHERE seq = $1`, [postponed!.seq]);
      return { kind: 'REMOVED', entry: rejected!, after: opened!, missingHash: postponed!.hash };
    },
  ],
  [
    'a forged entry inserted in the middle (the trigger chains it)',
    async ({ request, first, entries: [opened] }) => {
      const [forged] = await harness.db.query(
        `INSERT INTO approval_history (seq, event_id, request_id, type, status_before, status_after, actor, reason, decision, occurred_at)
         VALUES ($1::bigint + 1, 'forged-' || $2, $2, 'APPROVED', 'PENDING', 'APPROVED', $3, 'approved, honestly', '{"decision":"APPROVED","decisionId":"forged"}', now())
         RETURNING seq::text, event_id, type, hash, prev_hash`,
        [opened!.seq, request.requestId, JSON.stringify(first)],
      );
      return { kind: 'INSERTED', entry: forged as Entry };
    },
  ],
])('when %s behind the worker, then audit verify names exactly that row, and exits 1', async (_, tamper) => {
  const life = await lifecycle();
  const { kind, entry, after, missingHash } = await tamper(life);

  const answer = await verified(life.request.requestId);
  expect(answer.problems).toEqual([
    { kind, requestId: life.request.requestId, seq: entry.seq, eventId: entry.event_id, detail: expect.any(String), ...(after ? { after: { seq: after.seq, eventId: after.event_id }, missingHash } : {}) },
  ]);
  const run = await cliOutcome('audit', 'verify', '--request', life.request.requestId);
  expect(run.code).toBe(1);
  const named = run.stdout.split('\n').filter((line) => /^(CHANGED|REMOVED|INSERTED) /.test(line));
  expect(named).toEqual([expect.stringMatching(new RegExp(`^${kind} +${life.request.requestId}  seq ${entry.seq}  event ${entry.event_id}`))]);
  expect(run.stderr).toMatch(/the audit trail does not verify: 1 entry does not fit/);
}, 60_000);

test("when a person's key is deleted (their erasure) and a reason that named them rewritten, then verify passes and counts erased digests and redacted entries", async () => {
  const { request, first, entries } = await lifecycle();
  const [, postponed, rejected] = entries;
  // What an erasure does: the person pseudonymised, a reason naming them rewritten and marked, their key destroyed.
  await harness.db.query(`UPDATE approval_history SET actor = '{"id":"erased-1","name":"erased","email":"erased"}', reason = '(erased)' WHERE seq = $1`, [rejected!.seq]);
  await harness.db.query(`UPDATE approval_history SET reason = 'Waiting for [erased]', redacted_at = now() WHERE seq = $1`, [postponed!.seq]);
  const [gone] = await harness.db.query(`WITH gone AS (DELETE FROM audit_person_keys WHERE person = lower($1) RETURNING 1) SELECT count(*)::int AS n FROM gone`, [first.id]);
  expect(gone.n).toBe(1);

  expect(await verified(request.requestId)).toMatchObject({ requests: 1, entries: 3, erasedDigests: 2, redacted: 1, problems: [] });
  expect(await cliOutcome('audit', 'verify', '--request', request.requestId)).toMatchObject({ code: 0, stdout: '1 request(s), 3 entries, 2 erased digest(s), 1 redacted, 0 trimmed by retention\nevery chain holds\n' });
}, 60_000);

/** CSV as RFC 4180 reads it: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), (i += 1);
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') row.push(field), rows.push(row), (row = []), (field = ''), (i += 1);
    else field += c;
  }
  return rows;
}

test('the export holds the decisions, who made them, acting as what, why and when, in CSV and in JSON', async () => {
  const rejected = 'Left, "finally"\nfor good';
  const { request, first, second } = await lifecycle({ postponed: '=HYPERLINK("http://example.com")', rejected });

  const csv = await cli('audit', 'export', '--since', startedAt, '--format', 'csv');
  const [header, ...rows] = parseCsv(csv.stdout);
  expect(header).toEqual(DECISION_COLUMNS);
  const column = (name: string) => DECISION_COLUMNS.indexOf(name as never);
  const mine = rows.filter((r) => r[column('requestId')] === request.requestId);
  expect(mine.map((r) => [r[column('type')], r[column('decision')], r[column('deciderId')], r[column('deciderName')], r[column('actingAs')], r[column('reason')], r[column('operation')]])).toEqual([
    ['POSTPONED', 'POSTPONED', second.id, second.name, 'APPROVER', `'=HYPERLINK("http://example.com")`, 'LOCK_CARD'],
    ['REJECTED', 'REJECTED', first.id, first.name, 'APPROVER', rejected, 'LOCK_CARD'],
  ]);
  expect(csv.stdout.endsWith('\r\n')).toBe(true);

  const json = JSON.parse((await cli('audit', 'export', '--since', startedAt, '--format', 'json')).stdout) as Array<Record<string, unknown>>;
  expect(json.filter((d) => d.requestId === request.requestId)).toEqual([
    expect.objectContaining({ type: 'POSTPONED', decision: 'POSTPONED', deciderId: second.id, actingAs: 'APPROVER', reason: '=HYPERLINK("http://example.com")', occurredAt: expect.any(String), eventId: expect.any(String) }),
    expect.objectContaining({ type: 'REJECTED', decision: 'REJECTED', deciderId: first.id, deciderName: first.name, reason: rejected, decidedAt: expect.any(String) }),
  ]);

  // The route answers CSV itself too.
  const res = await fetch(`${base}/api/audit/decisions?since=${encodeURIComponent(startedAt)}&format=csv`, { headers: { authorization: `Bearer ${operator}` } });
  expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
  expect((await res.text()).split('\r\n')[0]).toBe(DECISION_COLUMNS.join(','));
}, 60_000);

test('the routes are for operators only, and a cursor not given out is refused', async () => {
  const approver = await mintLocalToken(harness.config.auth, { ...aPerson('approver'), roles: ['approver'] });
  for (const path of ['verification', `decisions?since=${startedAt}`, 'heads?date=2026-12-01']) {
    expect((await fetch(`${base}/api/audit/${path}`, { headers: { authorization: `Bearer ${approver}` } })).status).toBe(403);
  }
  const bad = await fetch(`${base}/api/audit/verification?cursor=bm90LW91cnM`, { headers: { authorization: `Bearer ${operator}` } });
  expect(bad.status).toBe(400);
  expect(await bad.json()).toMatchObject({ error: 'INVALID_CURSOR' });
  expect((await fetch(`${base}/api/audit/verification?request=no-such-request`, { headers: { authorization: `Bearer ${operator}` } })).status).toBe(404);
});

test('pages: verification and export bounded per call go through everything once, by cursor', async () => {
  await lifecycle();
  await lifecycle();
  const trail = new AuditTrail(harness.db);
  const whole = await trail.verify({ since: Date.parse(startedAt) }, { requests: 1000, entries: 100_000 });
  const paged: string[] = [];
  for (let after: string | undefined, pages = 0; ; pages += 1) {
    const { reports, next } = await trail.verify({ since: Date.parse(startedAt), after }, { requests: 2, entries: 1 });
    expect(reports.length).toBe(1); // the entries bound cuts each page to one request
    paged.push(...reports.map((r) => r.requestId));
    if (next === null) break;
    after = next;
  }
  expect(paged).toEqual(whole.reports.map((r) => r.requestId));

  const all = await trail.decisions(Date.parse(startedAt), undefined, 10_000);
  const pages: string[] = [];
  for (let after = undefined as Parameters<AuditTrail['decisions']>[1]; ; ) {
    const { items, next } = await trail.decisions(Date.parse(startedAt), after, 3);
    pages.push(...items.map((d) => d.eventId));
    if (!next) break;
    after = next;
  }
  expect(pages).toEqual(all.items.map((d) => d.eventId));
  expect(pages.length).toBeGreaterThan(3);

  // The heads of today: each request's newest hash.
  const { request, entries } = await lifecycle();
  const today = new Date().toISOString().slice(0, 10);
  const heads = await cli('audit', 'heads', '--date', today);
  expect(heads.stdout).toContain(`${request.requestId} ${entries[2]!.seq} ${entries[2]!.hash}\n`);
}, 120_000);

test('the database and the TypeScript recomputation agree on the encoding of any text: quotes, backslashes, control characters, line separators, emoji', async () => {
  const special = fc.constantFrom('"', '\\', '\n', '\r', '\t', '\b', '\f', '\u0001', '\u001f', '\u007f', '\u2028', '\u2029', '\ufeff', 'é', '😀', '/', '<', ' ', 'a');
  const text = fc.oneof(fc.string({ unit: special }), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme-composite' }));
  const actor = fc.oneof(fc.constant(null), fc.record({ id: text, name: text, email: text }), fc.record({ id: fc.integer() }), fc.constant('not a person'));
  const decision = fc.oneof(fc.constant(null), fc.record({ decision: text, decisionId: text }), fc.constant('APPROVED'), fc.record({ decisionId: fc.integer() }));
  const row = fc.record({
    request_id: fc.oneof(fc.constantFrom('agree-1', 'agree-2'), text.map((t) => `agree-${t}`)),
    event_id: text,
    type: text,
    status_before: fc.option(text, { nil: null }),
    status_after: fc.option(text, { nil: null }),
    actor,
    reason: fc.option(text, { nil: null }),
    decision,
    refusal_code: fc.option(text, { nil: null }),
    // Any time from 1970 to 2100, to the microsecond.
    occurred_us: fc.bigInt({ min: 0n, max: 4_102_444_800_000_000n }),
  });
  const rows = fc.sample(row, { numRuns: 300, seed: 29 });
  await harness.db.query(
    `INSERT INTO approval_history (seq, event_id, request_id, type, status_before, status_after, actor, reason, decision, refusal_code, occurred_at)
     SELECT nextval('approval_events_seq_seq'), r.event_id, r.request_id, r.type, r.status_before, r.status_after, r.actor, r.reason, r.decision, r.refusal_code,
            to_timestamp(0) + make_interval(secs => r.occurred_us / 1000000.0)
     FROM jsonb_to_recordset($1::jsonb) AS r(i int, event_id text, request_id text, type text, status_before text, status_after text, actor jsonb, reason text, decision jsonb, refusal_code text, occurred_us numeric)
     ORDER BY r.i`,
    [JSON.stringify(rows.map((r, i) => ({ ...r, i, occurred_us: r.occurred_us.toString() })))],
  );
  const ids = [...new Set(rows.map((r) => r.request_id))];
  const trail = new AuditTrail(harness.db);
  const reports = [];
  for (let after: string | undefined; ; ) {
    const page = await trail.verify({ after }, { requests: 1000, entries: 100_000 });
    reports.push(...page.reports.filter((r) => ids.includes(r.requestId)));
    if (page.next === null) break;
    after = page.next;
  }
  expect(reports.reduce((n, r) => n + r.entries, 0)).toBe(rows.length);
  expect(reports.flatMap((r) => r.problems)).toEqual([]);
}, 60_000);

test('the history stored before the chain is chained by the migration, and a request the trigger reaches first is chained by it', async () => {
  const database = new URL(harness.env.DATABASE_URL!);
  database.pathname = `${database.pathname}_before`;
  const url = database.toString();
  await ensureDatabase(url);
  try {
    const before = createDataSource(url, 2);
    before.setOptions({ migrations: (before.options.migrations as Array<new () => { name?: string }>).filter((m) => m !== AuditChain1765400000000) });
    await before.initialize();
    await migrate(before);
    // Events stored by the version before: their history copied by its trigger, unchained.
    await before.query(
      `INSERT INTO approval_events (event_id, request_id, type, status_after, actor, reason, payload, occurred_at)
       SELECT 'old-' || r || '-' || i, 'old-' || r, CASE WHEN i = 1 THEN 'OPENED' ELSE 'POSTPONED' END, 'PENDING',
              jsonb_build_object('id', 'Person-' || i, 'name', 'Person ' || i, 'email', 'p' || i || '@example.com'), CASE WHEN i > 1 THEN 'later, ' || i END,
              jsonb_build_object('decision', CASE WHEN i > 1 THEN jsonb_build_object('decision', 'POSTPONED', 'decisionId', 'd-' || r || '-' || i) END), now()
       FROM generate_series(1, 450) AS r, generate_series(1, 3) AS i ORDER BY i, r`,
    );
    await before.destroy();

    const after = await createDataSource(url, 2).initialize();
    try {
      expect(await migrate(after)).toEqual(['AuditChain1765400000000']);
      const [{ unchained }] = await after.query(`SELECT count(*) FILTER (WHERE hash IS NULL)::int AS unchained FROM approval_history`);
      expect(unchained).toBe(0);
      const trail = new AuditTrail(after);
      let requests = 0;
      for (let cursor: string | undefined; ; ) {
        const { reports, next } = await trail.verify({ after: cursor }, { requests: 100, entries: 10_000 });
        expect(reports.flatMap((r) => r.problems)).toEqual([]);
        requests += reports.length;
        if (next === null) break;
        cursor = next;
      }
      expect(requests).toBe(450);

      // A request whose entries are not chained yet when a new one comes (the migration has not reached it): the trigger chains them first.
      await after.query(`UPDATE approval_history SET hash = NULL, prev_hash = NULL, digest_key = NULL, actor_digest = NULL, reason_digest = NULL WHERE request_id = 'old-7'`);
      await after.query(`INSERT INTO approval_events (event_id, request_id, type, status_after, payload, occurred_at) VALUES ('new-7', 'old-7', 'REMINDED', 'PENDING', '{}', now())`);
      const [report] = (await trail.verify({ requestId: 'old-7' }, { requests: 1, entries: 100 })).reports;
      expect(report).toMatchObject({ entries: 4, problems: [] });
    } finally {
      await after.destroy();
    }
  } finally {
    await dropDatabase(url);
  }
}, 120_000);
