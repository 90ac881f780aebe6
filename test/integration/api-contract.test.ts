// The served OpenAPI document judges the server: every declared operation is called for every
// role (and without a token), with a call the document's own schemas accept, and each answer must
// be one the document declares for it, of the declared content, valid against the declared
// schema. Then every path parameter, query parameter and body string of every operation gets a
// NUL, a control character and invalid UTF-8: each is a 400, never a 5xx.
import Ajv2020 from 'ajv/dist/2020';
import { DecisionLinks } from '../../src/adapters/email/decision-links';
import { mintLocalToken, type Identity } from '../../src/entry-points/http/auth';
import { aCard, aPerson, aRequest } from '../support/builders';
import { TEST_AUTH_SECRET, startHarnessWithWorker, type Harness } from '../support/test-worker';

const LINK_SECRET = 'contract-link-secret-that-is-long-enough-01';
let harness: Harness;
let base: string;
let doc: {
  paths: Record<string, Record<string, { operationId: string; parameters?: Array<{ name: string; in: string; required?: boolean; schema: object }>; requestBody?: { required?: boolean; content: Record<string, { schema: object }> }; responses: Record<string, { content?: Record<string, { schema: object }> }> }>>;
};
const ajv = new Ajv2020({ strict: false });

const approver = aPerson('approver');
const requester = aPerson('requester');
const delegate = aPerson('delegate');
const request = aRequest('REQUEST_MULTIPLE_CARDS', { requester, approvers: [approver, aPerson('approver')], cards: [aCard(), aCard()] });
let tokens: Record<string, string | undefined>;
let linkToken: string;
let delegationId: string;

beforeAll(async () => {
  ({ harness, base } = await startHarnessWithWorker({ AUTH_SECRET: TEST_AUTH_SECRET, EMAIL_LINK_SECRET: LINK_SECRET, AUTH_LOCAL_SIGNIN: 'true' }));
  doc = (await (await fetch(`${base}/openapi.json`)).json()) as typeof doc;
  ajv.addSchema({ $id: 'api', ...doc });
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);
  const token = (who: { id: string; name: string; email: string }, roles: Identity['roles']) => mintLocalToken(harness.config.auth, { ...who, roles });
  tokens = {
    approver: await token(approver, ['approver']),
    requester: await token(requester, ['requester']),
    operator: await token(aPerson('operator'), ['operator', 'approver']),
    none: undefined,
  };
  const link = new DecisionLinks({ secrets: [LINK_SECRET], ttlMs: 3600_000, baseUrl: `${base}/email-actions` }).linksFor('contract', request.requestId, approver, Date.now()).POSTPONED;
  linkToken = link.split('/').pop()!;
  const set = await fetch(`${base}/api/delegations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.approver}`, 'content-type': 'application/json' },
    body: JSON.stringify({ delegate, endsAt: new Date(Date.now() + 86_400_000).toISOString() }),
  });
  delegationId = ((await set.json()) as { delegationId: string }).delegationId;
});
afterAll(() => harness?.stop());

interface Call {
  params?: Record<string, string>;
  /** As the client holds them (a number is a number); sent as text. */
  query?: Record<string, string | number>;
  body?: unknown;
  form?: Record<string, string>;
}

/** A call each operation takes, with every optional string it can carry, so that each can be spoiled. */
const CALLS = (): Record<string, Call> => ({
  live: {},
  ready: {},
  consuming: {},
  metrics: {},
  openApi: {},
  asyncApi: {},
  avroSchema: { params: { file: 'approval-event.avsc' } },
  approverPage: {},
  getMe: {},
  searchRequests: { query: { status: 'PENDING', operation: 'REQUEST_MULTIPLE_CARDS', approver: approver.id, requester: requester.id, q: request.requestId, sort: 'opened_at', limit: 5 } },
  listTasks: { query: { limit: 5 } },
  getRequest: { params: { requestId: request.requestId } },
  getRequestHistory: { params: { requestId: request.requestId } },
  decide: { params: { requestId: request.requestId }, body: { decision: 'APPROVED', reason: 'fine by me', cards: [{ cardIndex: 1, decision: 'REJECTED', reason: 'not this one' }] } },
  reassign: { params: { requestId: request.requestId }, body: { from: approver.id, to: { id: 'successor', name: 'A Successor', email: 'successor@example.com', locale: 'sv' } } },
  reassignAll: { body: { from: 'nobody-at-all', to: { id: 'successor', name: 'A Successor', email: 'successor@example.com', locale: 'sv' } } },
  decideMany: { body: { decisions: [{ requestId: request.requestId, decision: 'POSTPONED', reason: 'next week' }] } },
  listDelegations: {},
  createDelegation: { body: { delegate: { id: 'stand-in', name: 'A Stand-in', email: 'stand-in@example.com', locale: 'de' }, startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 3600_000).toISOString() } },
  revokeDelegation: { params: { delegationId } },
  listParkedEvents: {},
  unparkEvents: { body: { eventIds: ['no-such-event'] } },
  listParkedTimers: {},
  unparkTimers: { body: { requestIds: [request.requestId] } },
  // Nobody by these: an erasure that finds nobody changes nothing, an export answers 404.
  erasePerson: { body: { person: 'nobody-to-erase@example.com' } },
  exportPersonalData: { body: { person: 'nobody-to-export@example.com' } },
  verifyAuditTrail: { query: { request: request.requestId, since: new Date(Date.now() - 3600_000).toISOString() } },
  exportAuditDecisions: { query: { since: new Date(Date.now() - 3600_000).toISOString(), format: 'csv' } },
  listAuditHeads: { query: { date: new Date().toISOString().slice(0, 10) } },
  signInMethods: {},
  signInLocally: { body: { id: 'local-person', name: 'A Local Person', email: 'local@example.com', roles: ['approver'] } },
  showEmailAction: { params: { token: linkToken } },
  confirmEmailAction: { params: { token: linkToken }, form: { reason: 'later please' } },
  signInStart: {},
  signInCallback: {},
});

const operations = () =>
  Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));

async function send(path: string, method: string, call: Call, token: string | undefined, raw?: { body: Buffer }): Promise<Response> {
  const url = new URL(`${base}${path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(call.params?.[name] ?? ''))}`);
  for (const [k, v] of Object.entries(call.query ?? {})) url.searchParams.set(k, String(v));
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let body: string | Buffer | undefined;
  if (raw) [body, headers['content-type']] = [raw.body, 'application/json'];
  else if (call.form) [body, headers['content-type']] = [new URLSearchParams(call.form).toString(), 'application/x-www-form-urlencoded'];
  else if (call.body !== undefined) [body, headers['content-type']] = [JSON.stringify(call.body), 'application/json'];
  return fetch(url, { method, headers, body, redirect: 'manual' });
}

/** Where a call breaks the document's declaration of its operation (it sends what the document does not take). */
function requestViolations(op: (typeof doc.paths)[string][string], call: Call): string[] {
  const found: string[] = [];
  const check = (what: string, schema: object, value: unknown) => {
    const valid = ajv.compile({ allOf: [resolveRefs(schema)] });
    if (!valid(value)) found.push(`${op.operationId} ${what}: ${ajv.errorsText(valid.errors)}`);
  };
  const given = { path: call.params ?? {}, query: call.query ?? {} };
  for (const where of ['path', 'query'] as const) {
    const declared = (op.parameters ?? []).filter((p) => p.in === where);
    for (const name of Object.keys(given[where])) if (!declared.some((p) => p.name === name)) found.push(`${op.operationId}: ${where} parameter ${name} is not declared`);
    for (const p of declared) {
      const value = given[where][p.name];
      if (value === undefined) {
        if (p.required) found.push(`${op.operationId}: required ${where} parameter ${p.name} not sent`);
      } else check(`${where} parameter ${p.name}`, p.schema, value);
    }
  }
  const [type, body] = call.form ? ['application/x-www-form-urlencoded', call.form] : ['application/json', call.body];
  if (body === undefined) {
    if (op.requestBody?.required) found.push(`${op.operationId}: required body not sent`);
  } else if (!op.requestBody?.content[type]) found.push(`${op.operationId}: a ${type} body is not declared`);
  else check('body', op.requestBody.content[type].schema, body);
  return found;
}

test('every declared operation, for every role, is called as the document declares it, and answers only what the document declares for it', async () => {
  const calls = CALLS();
  const violations: string[] = [];
  for (const { path, method, op } of operations()) {
    const call = calls[op.operationId];
    if (!call) {
      violations.push(`${op.operationId}: no call in this test`);
      continue;
    }
    violations.push(...requestViolations(op, call));
    for (const [role, token] of Object.entries(tokens)) {
      const res = await send(path, method, call, token);
      const declared = op.responses[String(res.status)];
      const type = res.headers.get('content-type')?.split(';')[0] ?? '';
      const text = await res.text();
      if (!declared) {
        violations.push(`${method} ${path} as ${role}: ${res.status} is not declared (${text.slice(0, 120)})`);
        continue;
      }
      const content = declared.content?.[type];
      if (declared.content && !content) {
        violations.push(`${method} ${path} as ${role}: ${res.status} with ${type}, declared ${Object.keys(declared.content).join(', ')}`);
        continue;
      }
      if (type === 'application/json' && content) {
        const check = ajv.compile({ allOf: [resolveRefs(content.schema)] });
        if (!check(JSON.parse(text))) violations.push(`${method} ${path} as ${role}: ${res.status} body breaks its schema: ${ajv.errorsText(check.errors)}`);
      }
    }
  }
  expect(violations).toEqual([]);
}, 120_000);

/** A schema with its component references pointing into the document the validator holds. */
const resolveRefs = (schema: object): object => JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"api#/components/')) as object;

const HOSTILE = [
  { what: 'a NUL', text: '\u0000', path: '%00' },
  { what: 'a control character', text: '\u0007', path: '%07' },
  { what: 'invalid UTF-8', text: undefined, path: '%C3%28' },
] as const;

/** Every string in `value`, as a path of keys (the places a hostile value goes). */
function stringPaths(value: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof value === 'string') return [at];
  if (Array.isArray(value)) return value.flatMap((v, i) => stringPaths(v, [...at, i]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => stringPaths(v, [...at, k]));
  return [];
}
const setAt = (value: unknown, at: Array<string | number>, to: string): unknown => {
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const key of at.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[at.at(-1)!] = to;
  return copy;
};

test('a NUL, a control character or invalid UTF-8 in any path parameter, query parameter or body string of any operation is a 400, never a 5xx', async () => {
  const calls = CALLS();
  const pending = aRequest('LOCK_CARD');
  await harness.publishRequest(pending);
  await harness.waitForEvents(pending.requestId, 1);
  const wrong: string[] = [];
  let tried = 0;
  const expect400 = async (what: string, res: Promise<Response>) => {
    tried += 1;
    const answer = await res;
    if (answer.status !== 400) wrong.push(`${what}: ${answer.status} ${(await answer.text()).slice(0, 160)}`);
  };
  for (const { path, method, op } of operations()) {
    const call = calls[op.operationId]!;
    for (const hostile of HOSTILE) {
      for (const name of Object.keys(call.params ?? {})) {
        const spoiled = path.replace(`{${name}}`, hostile.path);
        await expect400(`${op.operationId} path ${name} with ${hostile.what}`, send(spoiled, method, { ...call, params: { ...call.params, [name]: '' } }, tokens.operator));
      }
      for (const name of Object.keys(call.query ?? {})) {
        const res = (async () => {
          const target = new URL(`${base}${path}`);
          for (const [k, v] of Object.entries(call.query ?? {})) target.searchParams.set(k, String(v));
          const query = target.search.replace(new RegExp(`([?&]${name}=)[^&]*`), `$1${hostile.path}`);
          return fetch(`${base}${path}${query}`, { headers: { authorization: `Bearer ${tokens.operator}` } });
        })();
        await expect400(`${op.operationId} query ${name} with ${hostile.what}`, res);
      }
      const body = call.body ?? call.form;
      for (const at of stringPaths(body)) {
        const label = `${op.operationId} body ${at.join('.')} with ${hostile.what}`;
        if (call.form) {
          // A link of its own each time, on a request still pending: a used link or a closed request would answer first.
          const fresh = new DecisionLinks({ secrets: [LINK_SECRET], ttlMs: 3600_000, baseUrl: `${base}/email-actions` }).linksFor(`hostile-${tried}`, pending.requestId, pending.approvers[0]!, Date.now()).POSTPONED;
          const form = hostile.text === undefined ? Buffer.concat([Buffer.from(`${String(at[0])}=`), Buffer.from([0xc3, 0x28])]) : Buffer.from(new URLSearchParams({ [String(at[0])]: hostile.text }).toString());
          tried += 1;
          const res = await fetch(fresh, { method, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
          if (res.status !== 400) wrong.push(`${label}: ${res.status}`);
          continue;
        }
        const marker = '\u2603marker\u2603';
        const textBody = JSON.stringify(setAt(body, at, marker));
        const raw = hostile.text === undefined ? Buffer.concat(textBody.split(JSON.stringify(marker).slice(1, -1)).flatMap((part, i) => (i === 0 ? [Buffer.from(part)] : [Buffer.from([0xc3, 0x28]), Buffer.from(part)]))) : Buffer.from(textBody.replace(marker, hostile.text === '\u0000' ? '\\u0000' : '\\u0007'));
        await expect400(label, send(path, method, call, op.operationId === 'signInLocally' ? undefined : tokens.operator, { body: raw }));
      }
    }
  }
  expect({ wrong, tried: tried > 100 }).toEqual({ wrong: [], tried: true });
}, 180_000);
