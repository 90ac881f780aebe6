// The approvals API: bearer tokens, who may see and decide, decisions that travel through the
// decisions topic back into the worker, and lists paged by cursor.
import { aCard, aPerson, aRequest } from '../support/builders';
import type { CardOperationRequest } from '../../src/domain/card-operation';
import type { ApprovalRecord } from '../../src/domain/approval';
import { encodeCursor } from '../../src/data-access/request-order';
import { PAGE_LIMIT } from '../../src/entry-points/http/approvals-api';
import { pollUntil } from '../../src/libraries/retry';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';
import { servedSchemaCheck } from '../support/openapi-schema';
import { SignJWT } from 'jose';
import { mintLocalToken, type Identity } from '../../src/entry-points/http/auth';

// Every successful answer is checked against the OpenAPI document the server itself serves.
const expectSchema = servedSchemaCheck(() => base);

let harness: Harness;
let base: string;
beforeAll(async () => ({ harness, base } = await startHarnessWithWorker({ AUTH_SECRET: TEST_AUTH_SECRET })));
afterAll(() => harness?.stop());

const tokenFor = (person: { id: string; name: string; email: string }, roles: Identity['roles'] = ['approver']): Promise<string> =>
  mintLocalToken(harness.config.auth, { ...person, roles });

async function call(path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function openRequest(): Promise<ReturnType<typeof aRequest>> {
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  return request;
}

test('when the token is missing, forged or signed with another algorithm, then the API answers 401 with a code', async () => {
  const missing = await call('/api/tasks');
  expect(missing).toMatchObject({ status: 401, body: { error: 'TOKEN_MISSING' } });
  await expectSchema('Error', missing.body);
  const forged = await mintLocalToken({ ...harness.config.auth, secret: 'another-secret-of-the-same-length-xxxxx' }, { ...aPerson('a'), roles: ['operator'] });
  expect(await call('/api/tasks', forged)).toMatchObject({ status: 401, body: { error: 'TOKEN_INVALID' } });
  // Signed with the right secret but another algorithm than the docs name (HS256).
  const { auth } = harness.config;
  const otherAlgorithm = await new SignJWT({ name: 'A', email: 'a@example.com', roles: ['operator'] })
    .setProtectedHeader({ alg: 'HS512' })
    .setSubject('a')
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(auth.secret!));
  expect(await call('/api/tasks', otherAlgorithm)).toMatchObject({ status: 401, body: { error: 'TOKEN_INVALID' } });
});

test('when someone who is not an approver of a request asks for it or decides, then the API answers 403', async () => {
  const request = await openRequest();
  const stranger = await tokenFor(aPerson('stranger'));
  expect(await call(`/api/requests/${request.requestId}`, stranger)).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
  expect(await call(`/api/requests/${request.requestId}/decisions`, stranger, { decision: 'APPROVED' })).toMatchObject({ status: 403 });
  const operator = await tokenFor(aPerson('operator'), ['operator']);
  expect((await call(`/api/requests/${request.requestId}`, operator)).status).toBe(200);
  expect(await call(`/api/requests/${request.requestId}/decisions`, operator, { decision: 'APPROVED' })).toMatchObject({ status: 403, body: { error: 'NOT_AN_APPROVER' } });
});

test('when someone who is not an operator lists or unparks parked events or timers, then the API answers 403 FORBIDDEN; an operator is answered', async () => {
  const notOperator = await tokenFor(aPerson('approver'), ['approver', 'requester']);
  const operator = await tokenFor(aPerson('operator'), ['operator']);
  for (const [parked, ids, schema] of [['/api/parked-events', 'eventIds', 'ParkedEvents'], ['/api/parked-timers', 'requestIds', 'ParkedTimers']] as const) {
    expect(await call(parked, notOperator)).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
    expect(await call(`${parked}/unpark`, notOperator, { all: true })).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
    expect(await call(parked)).toMatchObject({ status: 401, body: { error: 'TOKEN_MISSING' } });

    const listed = await call(parked, operator);
    expect(listed).toMatchObject({ status: 200, body: { items: [], more: false } });
    await expectSchema(schema, listed.body);
    const unparked = await call(`${parked}/unpark`, operator, { [ids]: ['nothing-parked-here'] });
    expect(unparked).toMatchObject({ status: 200, body: { unparked: 0 } });
    await expectSchema('Unparked', unparked.body);
    // Ids and all together, or neither, is a call that does not say what to put back.
    for (const body of [{ [ids]: ['x'], all: true }, {}]) expect(await call(`${parked}/unpark`, operator, body)).toMatchObject({ status: 400, body: { error: 'INVALID_BODY' } });
  }
});

test('when the body names an approver or a rejection has no reason, then the API answers 400 and publishes nothing', async () => {
  const request = await openRequest();
  const approver = await tokenFor(request.approvers[0]!);
  const forgedApprover = await call(`/api/requests/${request.requestId}/decisions`, approver, { decision: 'APPROVED', approver: request.approvers[1] });
  expect(forgedApprover).toMatchObject({ status: 400, body: { error: 'INVALID_BODY' } });
  expect(await call(`/api/requests/${request.requestId}/decisions`, approver, { decision: 'REJECTED', reason: ' ' })).toMatchObject({
    status: 400,
    body: { error: 'REASON_REQUIRED' },
  });
  expect(harness.eventsFor(request.requestId)).toHaveLength(1);
});

test('when an approver postpones and later approves through the API, then the task stays listed until the worker closes the request', async () => {
  const request = await openRequest();
  const approver = request.approvers[0]!;
  const token = await tokenFor(approver);

  const postponed = await call(`/api/requests/${request.requestId}/decisions`, token, { decision: 'POSTPONED' });
  expect(postponed).toMatchObject({ status: 202, body: { decisionId: expect.any(String) } });
  await expectSchema('DecisionAccepted', postponed.body);
  await harness.waitForEvents(request.requestId, 2);
  const tasks = await call('/api/tasks', token);
  expect(tasks.body.items.map((r: { requestId: string }) => r.requestId)).toContain(request.requestId);
  await expectSchema('Tasks', tasks.body);

  await call(`/api/requests/${request.requestId}/decisions`, token, { decision: 'APPROVED' });
  const closed = await pollUntil(
    () => call(`/api/requests/${request.requestId}`, token),
    (r) => r.body.record?.status === 'APPROVED',
    { what: 'the request to be approved' },
  );
  expect(closed.body.history.map((h: { type: string }) => h.type)).toEqual(['OPENED', 'POSTPONED', 'APPROVED']);
  await expectSchema('RequestWithHistory', closed.body);
  expect(closed.body.history[2].actor.id).toBe(approver.id);
  expect((await call('/api/tasks', token)).body.items.map((r: { requestId: string }) => r.requestId)).not.toContain(request.requestId);
});

test('when searching, then operators find any request by text and filters, and approvers only their own', async () => {
  const request = await openRequest();
  const operator = await tokenFor(aPerson('operator'), ['operator']);
  const byText = await call(`/api/requests?q=${encodeURIComponent(request.requestId)}&status=PENDING&operation=LOCK_CARD`, operator);
  expect(byText).toMatchObject({ status: 200, body: { total: 1, nextCursor: null } });
  expect(byText.body.items[0].requestId).toBe(request.requestId);
  await expectSchema('SearchResult', byText.body);
  const byRequester = await call(`/api/requests?requester=${request.requester.id}`, operator);
  expect(byRequester.body.items.map((r: { requestId: string }) => r.requestId)).toEqual([request.requestId]);
  const outsider = await tokenFor(aPerson('approver'));
  expect((await call(`/api/requests?q=${encodeURIComponent(request.requestId)}`, outsider)).body.total).toBe(0);
  expect(await call('/api/requests?status=SOMETIMES', operator)).toMatchObject({ status: 400, body: { error: 'INVALID_QUERY' } });
  // One or two characters would match most rows: refused before it costs a table scan.
  expect(await call('/api/requests?q=ab', operator)).toMatchObject({ status: 400, body: { error: 'INVALID_QUERY', message: expect.stringMatching(/^q needs at least 3 characters/) } });
  // Punctuation alone gives the search index nothing to narrow on.
  expect(await call('/api/requests?q=---', operator)).toMatchObject({ status: 400, body: { error: 'INVALID_QUERY' } });
  // What the database cannot hold is refused before it gets there (it once answered 500).
  for (const spoiled of ['q=%00abc', 'approver=a%00b', 'requester=%01x', `approver=${'x'.repeat(201)}`]) {
    expect(await call(`/api/requests?${spoiled}`, operator)).toMatchObject({ status: 400, body: { error: 'INVALID_QUERY' } });
  }
});

/**
 * Publishes requests in one produce request to one partition: the worker opens them in one batch,
 * so they share their opened time to the millisecond and only the request id orders them.
 */
async function openTogether(requests: CardOperationRequest[]): Promise<void> {
  const topic = harness.config.topics.requests.LOCK_CARD;
  const messages = [];
  // One at a time: the first registers the schema (registering one subject twice at once is refused).
  for (const r of requests) messages.push({ key: r.requestId, value: await harness.encodeWith(`${topic}-value`, 'card-operation-request', r), partition: 0 });
  await harness.publishRawBatch(topic, messages);
  for (const r of requests) await harness.waitForEvents(r.requestId, 1);
}

type Page = { items: ApprovalRecord[]; nextCursor: string | null };

/** Follows nextCursor from the first page to the last, checking every page against the contract. */
async function walk(path: string, token: string, schema: 'SearchResult' | 'Tasks'): Promise<Page[]> {
  const pages: Page[] = [];
  let cursor: string | null = null;
  do {
    const answer = await call(`${path}${path.includes('?') ? '&' : '?'}${cursor ? `cursor=${encodeURIComponent(cursor)}` : ''}`, token);
    expect(answer.status).toBe(200);
    await expectSchema(schema, answer.body);
    pages.push(answer.body);
    cursor = answer.body.nextCursor;
  } while (cursor !== null && pages.length < 50);
  return pages;
}

// Request ids from aRequest share one shape (req-, a lowercase UUID): any collation orders them as
// JavaScript compares them.
const byOpenedThenId = (a: ApprovalRecord, b: ApprovalRecord): number => a.openedAt - b.openedAt || (a.requestId < b.requestId ? -1 : 1);

test('when an operator walks a search page by page with the cursor, then each request comes exactly once and in order, ties on the opened time included', async () => {
  const requester = aPerson('requester');
  const older = Array.from({ length: 7 }, () => aRequest('LOCK_CARD', { requester }));
  const newer = Array.from({ length: 6 }, () => aRequest('LOCK_CARD', { requester }));
  await openTogether(older);
  await openTogether(newer);
  const operator = await tokenFor(aPerson('operator'), ['operator']);

  for (const sort of ['-opened_at', 'opened_at'] as const) {
    const pages = await walk(`/api/requests?requester=${requester.id}&sort=${sort}&limit=4`, operator, 'SearchResult');
    const seen = pages.flatMap((p) => p.items);
    const expected = [...seen].sort(sort === 'opened_at' ? byOpenedThenId : (a, b) => byOpenedThenId(b, a));
    expect(seen.map((r) => r.requestId)).toEqual(expected.map((r) => r.requestId));
    expect(new Set(seen.map((r) => r.requestId))).toEqual(new Set([...older, ...newer].map((r) => r.requestId)));
    expect(pages.map((p) => p.items.length)).toEqual([4, 4, 4, 1]);
    expect(pages.at(-1)!.nextCursor).toBeNull();
    // The pages end inside groups of requests opened in the same millisecond: the request id carried on.
    const splitTies = pages.slice(1).filter((p, i) => p.items[0]!.openedAt === pages[i]!.items.at(-1)!.openedAt);
    expect(splitTies.length).toBeGreaterThan(0);
  }
});

test('when an approver walks their tasks page by page, then every request they may decide on comes once, oldest first, and none the four-eyes rule forbids', async () => {
  const approver = aPerson('approver');
  const other = aPerson('approver');
  const holding = (r: CardOperationRequest): CardOperationRequest => ({ ...r, cards: [aCard(approver)] });
  // One batch, so only the ids order them; the ones the approver may not decide on sit between
  // and at the ends of the pages.
  const stem = `req-${aPerson('x').id}`;
  const requests = [
    aRequest('LOCK_CARD', { requestId: `${stem}-0`, approvers: [approver, other] }),
    holding(aRequest('LOCK_CARD', { requestId: `${stem}-1`, approvers: [approver, other] })),
    aRequest('LOCK_CARD', { requestId: `${stem}-2`, approvers: [approver, other], requester: approver }),
    aRequest('LOCK_CARD', { requestId: `${stem}-3`, approvers: [approver, other] }),
    aRequest('LOCK_CARD', { requestId: `${stem}-4`, approvers: [approver, other] }),
    holding(aRequest('LOCK_CARD', { requestId: `${stem}-5`, approvers: [approver, other] })),
    aRequest('LOCK_CARD', { requestId: `${stem}-6`, approvers: [approver, other] }),
  ];
  await openTogether(requests);

  const pages = await walk('/api/tasks?limit=2', await tokenFor(approver), 'Tasks');
  expect(pages.map((p) => p.items.map((r) => r.requestId))).toEqual([
    [`${stem}-0`, `${stem}-3`],
    [`${stem}-4`, `${stem}-6`],
  ]);
  expect(pages.at(-1)!.nextCursor).toBeNull();
  // The other approver may decide on all of them.
  const theirs = await walk('/api/tasks?limit=3', await tokenFor(other), 'Tasks');
  expect(theirs.flatMap((p) => p.items.map((r) => r.requestId))).toEqual(requests.map((r) => r.requestId));
});

test('when a list is asked for with a cursor it did not give out, an old page number or too large a limit, then the API answers 400 and says why', async () => {
  const operator = await tokenFor(aPerson('operator'), ['operator']);
  const approver = await tokenFor(aPerson('approver'));
  const position = { openedAt: '2025-01-31T10:00:00.123456Z', requestId: 'req-1' };
  const refused = {
    'not base64url': ['/api/requests?cursor=%25%25%25', operator],
    'not JSON': [`/api/requests?cursor=${Buffer.from('{"s":').toString('base64url')}`, operator],
    'no such day': [`/api/requests?cursor=${encodeCursor({ ...position, sort: '-opened_at', openedAt: '2025-02-30T10:00:00.000000Z' })}`, operator],
    'a year Postgres has not': [`/api/requests?cursor=${encodeCursor({ ...position, sort: '-opened_at', openedAt: '0000-01-01T00:00:00.000000Z' })}`, operator],
    'a control character in the id': [`/api/requests?cursor=${encodeCursor({ ...position, sort: '-opened_at', requestId: 'req-\u0000' })}`, operator],
    'another sort': [`/api/requests?sort=-opened_at&cursor=${encodeCursor({ ...position, sort: 'opened_at' })}`, operator],
    'tasks, not base64url': ['/api/tasks?cursor=..', approver],
  } as const;
  for (const [why, [path, token]] of Object.entries(refused)) {
    const answer = await call(path, token);
    expect({ why, status: answer.status, error: answer.body.error }).toEqual({ why, status: 400, error: 'INVALID_CURSOR' });
    await expectSchema('Error', answer.body);
  }
  expect((await call(`/api/requests?sort=opened_at&cursor=${encodeCursor({ ...position, sort: '-opened_at' })}`, operator)).body.message).toMatch(/sort=-opened_at/);
  expect(await call('/api/requests?page=2', operator)).toMatchObject({ status: 400, body: { error: 'INVALID_QUERY', message: expect.stringMatching(/cursor/) } });
  expect(await call(`/api/requests?limit=${PAGE_LIMIT.max + 1}`, operator)).toMatchObject({ status: 400, body: { error: 'INVALID_QUERY' } });
  expect(await call(`/api/tasks?limit=0`, approver)).toMatchObject({ status: 400, body: { error: 'INVALID_QUERY' } });
  // A well-formed cursor is only a place in the order: it shows nothing the caller could not see.
  const far = await call(`/api/requests?cursor=${encodeCursor({ ...position, sort: '-opened_at', openedAt: '1971-01-01T00:00:00.000000Z' })}`, operator);
  expect(far).toMatchObject({ status: 200, body: { items: [], nextCursor: null } });
});

test('when an approver approves 50 requests in one bulk call, then each gets its own decision and result, the ones they may not decide are refused with their code, and all 50 end APPROVED', async () => {
  const approver = aPerson('bulk-approver');
  const requests = Array.from({ length: 50 }, () => aRequest('LOCK_CARD', { approvers: [approver, aPerson('approver')] }));
  await Promise.all(requests.map((r) => harness.publishRequest(r)));
  await Promise.all(requests.map((r) => harness.waitForEvents(r.requestId, 1)));
  const notTheirs = await openRequest();
  const token = await tokenFor(approver);

  const answer = await call('/api/decisions', token, {
    decisions: [
      ...requests.map((r) => ({ requestId: r.requestId, decision: 'APPROVED' })),
      { requestId: notTheirs.requestId, decision: 'APPROVED' },
      { requestId: 'no-such-request', decision: 'APPROVED' },
      { requestId: requests[0]!.requestId, decision: 'REJECTED' },
    ],
  });
  // A request twice in one call is refused whole, and nothing is published: which one counts would be a guess.
  expect(answer).toMatchObject({ status: 400, body: { error: 'INVALID_BODY', message: 'a request appears more than once' } });

  const bulk = await call('/api/decisions', token, {
    decisions: [...requests.map((r) => ({ requestId: r.requestId, decision: 'APPROVED' })), { requestId: notTheirs.requestId, decision: 'APPROVED' }, { requestId: 'no-such-request', decision: 'APPROVED' }],
  });
  expect(bulk.status).toBe(200);
  await expectSchema('BulkDecisionResult', bulk.body);
  const results = bulk.body.results as Array<{ requestId: string; status: number; decisionId?: string; error?: string }>;
  expect(results.slice(0, 50).every((r, i) => r.status === 202 && r.requestId === requests[i]!.requestId)).toBe(true);
  expect(new Set(results.slice(0, 50).map((r) => r.decisionId)).size).toBe(50);
  expect(results.slice(50).map((r) => [r.status, r.error])).toEqual([
    [403, 'FORBIDDEN'],
    [404, 'NOT_FOUND'],
  ]);
  for (const [i, request] of requests.entries()) {
    const [, approved] = await harness.waitForEvents(request.requestId, 2);
    expect(approved).toMatchObject({ type: 'APPROVED', decision: { decisionId: results[i]!.decisionId, approver: { id: approver.id } } });
  }
  // Only the bulk call's decisions arrived (the refused call published none): one decision each.
  const [counted] = await harness.db.query(`SELECT count(*)::int AS n FROM approval_decisions WHERE request_id = ANY($1)`, [requests.map((r) => r.requestId)]);
  expect(counted.n).toBe(50);
});

test('when the requester, a holder, or anyone on a closed or expired request decides, then the API refuses at once with the code the worker would give, and publishes nothing', async () => {
  const requester = aPerson('requester');
  const holder = aPerson('holder');
  const request = aRequest('LOCK_CARD', { requester, cards: [aCard(holder)] });
  // The requester and the holder listed among the approvers anyway (upstream's mistake): four-eyes still holds.
  request.approvers.push(requester, holder);
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  const decide = async (who: Parameters<typeof tokenFor>[0], requestId = request.requestId) => call(`/api/requests/${requestId}/decisions`, await tokenFor(who), { decision: 'APPROVED' });
  expect(await decide(requester)).toMatchObject({ status: 403, body: { error: 'SELF_APPROVAL' } });
  expect(await decide(holder)).toMatchObject({ status: 403, body: { error: 'HOLDER_APPROVAL' } });

  // Past its expiry, though its timer has not fired yet: closed already.
  await harness.db.query(`UPDATE approval_timers SET expire_at = now() - interval '1 minute', next_at = now() + interval '1 hour' WHERE request_id = $1`, [request.requestId]);
  const expired = await decide(request.approvers[0]!);
  expect(expired).toMatchObject({ status: 409, body: { error: 'REQUEST_CLOSED', message: expect.stringContaining('expired') } });
  await expectSchema('Error', expired.body);

  const closed = await openRequest();
  expect((await decide(closed.approvers[0]!, closed.requestId)).status).toBe(202);
  await harness.waitForEvents(closed.requestId, 2);
  expect(await decide(closed.approvers[1]!, closed.requestId)).toMatchObject({ status: 409, body: { error: 'REQUEST_CLOSED' } });

  // Nothing of these was published: the worker saw one decision, the accepted one.
  expect(harness.eventsFor(request.requestId).map((e) => e.type)).toEqual(['OPENED']);
  expect(await harness.record(request.requestId)).toMatchObject({ status: 'PENDING' });
});
