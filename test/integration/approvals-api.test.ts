// The approvals API: bearer tokens, who may see and decide, and decisions that travel through
// the decisions topic back into the worker.
import { aPerson, aRequest } from '../support/builders';
import { pollUntil } from '../../src/libraries/retry';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';
import Ajv2020 from 'ajv/dist/2020';
import { mintLocalToken, type Identity } from '../../src/entry-points/http/auth';

// Every successful answer is checked against the OpenAPI document the server itself serves.
const ajv = new Ajv2020({ strict: false });
let validatorsReady: Promise<void> | undefined;
async function expectSchema(schema: string, body: unknown): Promise<void> {
  validatorsReady ??= (async () => void ajv.addSchema({ $id: 'api', ...((await (await fetch(`${base}/openapi.json`)).json()) as object) }))();
  await validatorsReady;
  const validate = ajv.compile({ $ref: `api#/components/schemas/${schema}` });
  expect({ schema, valid: validate(body), errors: validate.errors ?? null }).toEqual({ schema, valid: true, errors: null });
}

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

test('when the token is missing or forged, then the API answers 401 with a code', async () => {
  const missing = await call('/api/tasks');
  expect(missing).toMatchObject({ status: 401, body: { error: 'TOKEN_MISSING' } });
  await expectSchema('Error', missing.body);
  const forged = await mintLocalToken({ ...harness.config.auth, secret: 'another-secret-of-the-same-length-xxxxx' }, { ...aPerson('a'), roles: ['operator'] });
  expect(await call('/api/tasks', forged)).toMatchObject({ status: 401, body: { error: 'TOKEN_INVALID' } });
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
  expect(byText).toMatchObject({ status: 200, body: { total: 1, page: 1 } });
  expect(byText.body.items[0].requestId).toBe(request.requestId);
  await expectSchema('SearchResult', byText.body);
  const byRequester = await call(`/api/requests?requester=${request.requester.id}`, operator);
  expect(byRequester.body.items.map((r: { requestId: string }) => r.requestId)).toEqual([request.requestId]);
  const outsider = await tokenFor(aPerson('approver'));
  expect((await call(`/api/requests?q=${encodeURIComponent(request.requestId)}`, outsider)).body.total).toBe(0);
  expect(await call('/api/requests?status=SOMETIMES', operator)).toMatchObject({ status: 400, body: { error: 'INVALID_QUERY' } });
  // One or two characters would match most rows: refused before it costs a table scan.
  expect(await call('/api/requests?q=ab', operator)).toMatchObject({ status: 400, body: { error: 'INVALID_QUERY', message: 'q needs at least 3 characters' } });
});
