// The access log: every answer of the API, a one-click link and sign-in leaves one line saying who
// (by id), what, which requests, the status and when, in a log of its own. Nothing personal is in
// it beyond the caller's id and the request ids: a search term is there as its length and keyed
// hash, which an auditor holding the key can check.
import { createHmac, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { DecisionLinks } from '../../src/adapters/email/decision-links';
import { mintLocalToken, type Identity } from '../../src/entry-points/http/auth';
import type { Person } from '../../src/domain/card-operation';
import { pollUntil } from '../../src/libraries/retry';
import { accessLines, type AccessLine } from '../support/access-log';
import { aCard, aPerson, aRequest } from '../support/builders';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';

const HASH_KEY = `access-log-hash-key-${randomUUID()}`;
const LINK_SECRET = 'email-link-secret-that-is-long-enough-0123';
const marker = randomUUID().slice(0, 8);
// Names and addresses that must appear nowhere in the access log.
const named = (role: string, name: string): Person => aPerson(role, { name: `${name} ${marker}`, email: `${name.toLowerCase().replace(/ /g, '.')}.${marker}@bank.example` });
const requester = named('requester', 'Rita Requester');
const holder = named('holder', 'Hugo Holder');
const [first, second] = [named('approver', 'Alma Approver'), named('approver', 'Axel Approver')];
const operator = named('operator', 'Olga Operator');
const stranger = named('approver', 'Sven Stranger');
const signingIn = named('approver', 'Lena Local');
const request = aRequest('LOCK_CARD', { requester, cards: [aCard(holder)], approvers: [first, second] });
const term = requester.name;
/** The one-click links tried (each a bearer credential for one decision). */
const linkTokens: string[] = [];

let harness: Harness;
let base: string;
const started = new Date();
beforeAll(async () => {
  ({ harness, base } = await startHarnessWithWorker({ AUTH_SECRET: TEST_AUTH_SECRET, AUTH_LOCAL_SIGNIN: 'true', EMAIL_LINK_SECRET: LINK_SECRET, ACCESS_LOG_HASH_KEY: HASH_KEY }));
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
});
afterAll(() => harness?.stop());

const tokenFor = (person: Person, roles: Identity['roles'] = ['approver']): Promise<string> => mintLocalToken(harness.config.auth, { ...person, roles });

async function call(method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text };
}

/** The one line `match` finds (the line is written as the answer leaves, so it is waited for). */
async function theLine(match: (line: AccessLine) => boolean, what: string): Promise<AccessLine> {
  const found = await pollUntil(async () => accessLines(harness.accessLogFile).filter(match), (lines) => lines.length > 0, { what: `the access-log line of ${what}` });
  expect({ what, lines: found.length }).toEqual({ what, lines: 1 });
  const [line] = found;
  // Every line says when, and what was called.
  expect(line).toMatchObject({ log: 'access', method: expect.any(String), status: expect.any(Number), requestIds: expect.any(Array) });
  expect(Date.parse(line!.time)).toBeGreaterThanOrEqual(started.getTime() - 1000);
  expect(Date.parse(line!.time)).toBeLessThanOrEqual(Date.now());
  return line!;
}

/** The term as an auditor computes it: HMAC-SHA256 with the key, over the term trimmed and in lower case, its first 16 hex digits. */
const auditorsHash = (text: string): string => createHmac('sha256', HASH_KEY).update(text.trim().toLowerCase()).digest('hex').slice(0, 16);

test('when a request is read with its history, searched for by a name, listed as a task, decided, refused and asked for without a token, then each call leaves one line with who, what, which requests and the status', async () => {
  const id = request.requestId;
  const [firstToken, secondToken, operatorToken, strangerToken] = await Promise.all([tokenFor(first), tokenFor(second), tokenFor(operator, ['operator']), tokenFor(stranger)]);

  expect((await call('GET', `/api/requests/${id}`, firstToken)).status).toBe(200);
  expect(await theLine((l) => l.operation === 'getRequest' && l.callerId === first.id, 'a read')).toMatchObject({ callerRoles: ['approver'], method: 'GET', route: '/api/requests/:requestId', status: 200, requestIds: [id] });

  const search = await call('GET', `/api/requests?q=${encodeURIComponent(term)}`, operatorToken);
  expect(search.body.items.map((r: { requestId: string }) => r.requestId)).toEqual([id]);
  const searched = await theLine((l) => l.operation === 'searchRequests' && l.callerId === operator.id, 'a search');
  expect(searched).toMatchObject({ callerRoles: ['operator'], method: 'GET', route: '/api/requests', status: 200, requestIds: [id], terms: { q: { length: term.length, hmac: auditorsHash(term) } } });

  const tasks = await call('GET', '/api/tasks', firstToken);
  expect(tasks.body.items.map((r: { requestId: string }) => r.requestId)).toContain(id);
  expect((await theLine((l) => l.operation === 'listTasks' && l.callerId === first.id, 'a task list')).requestIds).toContain(id);

  // Refused at once: someone not asked may not even see it.
  expect((await call('POST', `/api/requests/${id}/decisions`, strangerToken, { decision: 'APPROVED' })).status).toBe(403);
  expect(await theLine((l) => l.operation === 'decide' && l.callerId === stranger.id, 'a refusal (403)')).toMatchObject({ method: 'POST', status: 403, requestIds: [id] });

  const key = randomUUID();
  expect((await call('POST', `/api/requests/${id}/decisions`, firstToken, { decision: 'APPROVED' }, { 'idempotency-key': key })).status).toBe(202);
  expect(await theLine((l) => l.operation === 'decide' && l.callerId === first.id && !l.replayed, 'a decision')).toMatchObject({ method: 'POST', route: '/api/requests/:requestId/decisions', status: 202, requestIds: [id] });
  // The same call again gets its first answer, and its line says so.
  expect((await call('POST', `/api/requests/${id}/decisions`, firstToken, { decision: 'APPROVED' }, { 'idempotency-key': key })).status).toBe(202);
  expect(await theLine((l) => l.operation === 'decide' && l.callerId === first.id && l.replayed === true, 'a replayed decision')).toMatchObject({ status: 202, requestIds: [id] });

  await harness.waitForEvents(id, 2);
  expect((await call('POST', `/api/requests/${id}/decisions`, secondToken, { decision: 'APPROVED' })).status).toBe(409);
  expect(await theLine((l) => l.operation === 'decide' && l.callerId === second.id, 'a refusal (409)')).toMatchObject({ status: 409, requestIds: [id] });

  const history = await call('GET', `/api/requests/${id}`, secondToken);
  expect(history.body.history.map((h: { type: string }) => h.type)).toEqual(['OPENED', 'APPROVED']);
  expect(await theLine((l) => l.operation === 'getRequest' && l.callerId === second.id, 'a read of the history')).toMatchObject({ status: 200, requestIds: [id] });

  expect((await call('GET', `/api/requests/${id}`)).status).toBe(401);
  expect(await theLine((l) => l.status === 401 && l.requestIds.includes(id), 'a call without a token')).toMatchObject({ callerId: null, callerRoles: [], operation: 'getRequest', method: 'GET' });
}, 60_000);

test('when a one-click link is opened, a forged one is tried and someone signs in locally, then each leaves a line naming the person by id only, or nobody', async () => {
  const links = new DecisionLinks({ secrets: [LINK_SECRET], ttlMs: 3600_000, baseUrl: `${base}/email-actions` }).linksFor(`e-${marker}`, request.requestId, second, Date.now());
  linkTokens.push(links.POSTPONED.split('/').at(-1)!);
  await call('GET', new URL(links.POSTPONED).pathname);
  expect(await theLine((l) => l.operation === 'showEmailAction' && l.callerId === second.id, 'a one-click link')).toMatchObject({ callerRoles: ['approver'], method: 'GET', route: '/email-actions/:token', requestIds: [request.requestId] });

  const forged = new DecisionLinks({ secrets: ['another-secret-that-is-long-enough-012345'], ttlMs: 3600_000, baseUrl: `${base}/email-actions` }).linksFor('e', request.requestId, stranger, Date.now()).APPROVED;
  linkTokens.push(forged.split('/').at(-1)!);
  expect((await call('GET', new URL(forged).pathname)).status).toBe(400);
  expect(await theLine((l) => l.operation === 'showEmailAction' && l.status === 400, 'a forged link')).toMatchObject({ callerId: null, requestIds: [] });

  const signedIn = await call('POST', '/auth/local', undefined, { id: signingIn.id, name: signingIn.name, email: signingIn.email, roles: ['approver'] });
  expect(signedIn.status).toBe(200);
  expect(await theLine((l) => l.operation === 'signInLocally', 'a sign-in')).toMatchObject({ callerId: signingIn.id, callerRoles: ['approver'], method: 'POST', status: 200 });
});

test('when a search breaks the query rules or a path names no route, then each leaves a line too: naming the caller, and not the path', async () => {
  const operatorToken = await tokenFor(operator, ['operator']);
  // The token is verified before the query: the refusal names who was refused.
  expect((await call('GET', '/api/requests?q=ab', operatorToken)).status).toBe(400);
  expect(await theLine((l) => l.operation === 'searchRequests' && l.status === 400, 'a search refused')).toMatchObject({ callerId: operator.id, terms: { q: { length: 2, hmac: auditorsHash('ab') } } });
  expect((await call('GET', `/api/people/${encodeURIComponent(holder.name)}`, operatorToken)).status).toBe(404);
  expect(await theLine((l) => l.status === 404 && l.method === 'GET' && l.route === null, 'a path no route has')).toMatchObject({ operation: null, requestIds: [] });
});

test('when the same name is searched for again in other letters, then its hash is the same; no line holds a name, an address, the term or a link, and none is in the worker\'s log', async () => {
  const operatorToken = await tokenFor(operator, ['operator']);
  expect((await call('GET', `/api/requests?q=${encodeURIComponent(term.toUpperCase())}&approver=${encodeURIComponent(first.id)}`, operatorToken)).status).toBe(200);
  const again = await theLine((l) => l.operation === 'searchRequests' && l.query?.approver === first.id, 'the search again');
  // An approver filter is an id, as it is; the term is only its length and hash.
  expect(again).toMatchObject({ query: { approver: first.id }, terms: { q: { length: term.length, hmac: auditorsHash(term) } } });

  const log = fs.readFileSync(harness.accessLogFile, 'utf8');
  const people = [requester, holder, first, second, operator, stranger, signingIn];
  const personal = [...people.flatMap((p) => [p.name, p.email]), term, term.toLowerCase(), term.toUpperCase(), encodeURIComponent(term), marker, ...linkTokens];
  expect(linkTokens).toHaveLength(2);
  for (const text of personal) expect({ text, found: log.includes(text) }).toEqual({ text, found: false });
  // The access log is apart from the worker's log.
  expect(fs.readFileSync(harness.logFile, 'utf8')).not.toContain('"log":"access"');
});
