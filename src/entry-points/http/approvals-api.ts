// The approvals API (JSON). Reads come from Postgres; a decision is published on the decisions
// topic and answered 202: the worker stays the only writer of approval state.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { ApprovalQueries, SearchFilter } from '../../data-access/approval-queries';
import type { Delegations } from '../../data-access/delegations';
import { InvalidCursorError, SORTS, decodeCursor, encodeCursor, type Position, type Sort } from '../../data-access/request-order';
import type { ApprovalRecord } from '../../domain/approval';
import { approverRefusal, cardOutcomesRefusal, samePerson, withdrawalRefusal, type Delegation } from '../../domain/approval-policy';
import { reassignmentProblem } from '../../domain/approval-votes';
import { MAX_CARDS_EVER, TIMESTAMP_RANGE, decisionProblems, idProblem, personProblems } from '../../domain/validate-message';
import { DECISION_KINDS, OPERATIONS, STATUSES, type ActorRole, type ApprovalDecision, type CardOutcome, type DecisionKind, type Person } from '../../domain/card-operation';
import { HttpError, isRole, type Authenticate, type Identity } from './auth';

export interface ApiDeps {
  authenticate: Authenticate;
  /** Set only when local sign-in is enabled: mints a token for the identity the page names. */
  signInLocally?: (identity: Identity) => Promise<string>;
  queries: ApprovalQueries;
  delegations: Pick<Delegations, 'create' | 'get' | 'revoke' | 'list' | 'inForceTo'>;
  /** Publishes decisions in one send, in order. */
  publishDecisions(decisions: ApprovalDecision[]): Promise<void>;
}

export { STATUSES };

/** Who sees a request: operators, its current approvers and those standing in for one, and its requester. */
const canSee = (who: Identity, record: ApprovalRecord, standIns: Delegation[]): boolean =>
  who.roles.includes('operator') ||
  record.approvers.some((a) => samePerson(a, who) || standIns.some((d) => samePerson(d.approver, a))) ||
  samePerson(record.requester, who);

/** The delegations in force to an approver (a stand-in decides and sees like whom they stand in for). */
const standInsOf = (deps: ApiDeps, who: Identity): Promise<Delegation[]> => (who.roles.includes('approver') ? deps.delegations.inForceTo(who) : Promise.resolve([]));

/** In what capacity the caller withdraws: as an operator, or as the request's requester. */
const withdrawingAs = (who: Identity, record: ApprovalRecord): ActorRole =>
  who.roles.includes('operator') ? 'OPERATOR' : who.roles.includes('requester') && samePerson(record.requester, who) ? 'REQUESTER' : 'APPROVER';

/** A percent-encoded part of the path; one that does not decode is the caller's mistake. */
function pathPart(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'INVALID_PATH', 'the path is not valid percent-encoded UTF-8');
  }
}

/** An ISO 8601 date or time (`2026-12-24`, `2026-12-24T17:00:00Z`) between 1970 and 9999, in epoch ms. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;
function isoTime(value: unknown): number {
  const ms = typeof value === 'string' && ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
  return ms >= TIMESTAMP_RANGE.min && ms <= TIMESTAMP_RANGE.max ? ms : Number.NaN;
}

/** A query parameter, held to the rule for ids (one line, no control characters, at most 200). */
function pick(query: URLSearchParams, name: string, allowed?: readonly string[]): string | undefined {
  const value = query.get(name)?.trim() || undefined;
  const problem = value === undefined ? undefined : idProblem(name, value);
  if (problem) throw new HttpError(400, 'INVALID_QUERY', problem);
  if (value !== undefined && allowed && !allowed.includes(value)) {
    throw new HttpError(400, 'INVALID_QUERY', `${name} must be one of ${allowed.join(', ')}`);
  }
  return value;
}

function positive(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) throw new HttpError(400, 'INVALID_QUERY', `${name} must be an integer from 1 to ${max}`);
  return value;
}

/** Items per page of a list (search, tasks): `limit` in the query, this many when it is absent. */
export const PAGE_LIMIT = { default: 20, max: 200 } as const;

/** The query parameters each list accepts: any other (an old `page`, a misspelling) is refused, not ignored. */
export const LIST_PARAMETERS = {
  search: ['status', 'operation', 'approver', 'requester', 'q', 'sort', 'cursor', 'limit'],
  tasks: ['cursor', 'limit'],
} as const;

function onlyKnown(query: URLSearchParams, known: readonly string[]): void {
  const unknown = [...new Set(query.keys())].filter((name) => !known.includes(name));
  if (unknown.length === 0) return;
  const paging = unknown.some((name) => name === 'page' || name === 'pageSize') ? ' (pages go by cursor: pass the nextCursor of the previous answer, and limit)' : '';
  throw new HttpError(400, 'INVALID_QUERY', `unknown parameter(s) ${unknown.join(', ')}; this list takes ${known.join(', ')}${paging}`);
}

/** Where the caller's previous page ended, in the order asked for now; a cursor we did not give out is a 400. */
function cursorIn(query: URLSearchParams, sort: Sort): Position | undefined {
  const cursor = query.get('cursor');
  if (cursor === null || cursor === '') return undefined;
  try {
    return decodeCursor(cursor, sort);
  } catch (error) {
    if (error instanceof InvalidCursorError) throw new HttpError(400, 'INVALID_CURSOR', `${error.message}; start again without a cursor`);
    throw error;
  }
}

/** A request's body as text, refused past 16 KiB (a JSON call's, a form's). */
export async function readBody(req: http.IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 16_384) throw new HttpError(413, 'BODY_TOO_LARGE', 'the body is larger than 16 KiB');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  try {
    return JSON.parse(body);
  } catch {
    throw new HttpError(400, 'INVALID_JSON', 'the body is not JSON');
  }
}

export interface DecisionBody {
  decision: DecisionKind;
  reason: string | null;
  cardOutcomes: CardOutcome[];
}

/** Per-card answers: `cards: [{ cardIndex, decision: APPROVED|REJECTED, reason? }]`, with decision APPROVED. */
function cardsBody(cards: unknown): CardOutcome[] {
  if (cards === undefined) return [];
  if (!Array.isArray(cards) || cards.length > MAX_CARDS_EVER) throw new HttpError(400, 'INVALID_BODY', 'cards must be an array of { cardIndex, decision, reason? }');
  return cards.map((c: unknown) => {
    const { cardIndex, decision, reason, ...rest } = (typeof c === 'object' && c !== null ? c : {}) as Record<string, unknown>;
    if (Object.keys(rest).length > 0 || !Number.isInteger(cardIndex) || (decision !== 'APPROVED' && decision !== 'REJECTED') || (reason !== undefined && reason !== null && typeof reason !== 'string')) {
      throw new HttpError(400, 'INVALID_BODY', 'each card is { cardIndex, decision: APPROVED|REJECTED, reason? }');
    }
    if ((cardIndex as number) < 0 || (cardIndex as number) >= MAX_CARDS_EVER) throw new HttpError(400, 'CARD_OUTCOMES_INVALID', `cardIndex ${String(cardIndex)} is not a card's position`);
    if (decision === 'REJECTED' && (typeof reason !== 'string' || reason.trim() === '')) throw new HttpError(400, 'REASON_REQUIRED', `card ${String(cardIndex)}: a rejected card needs a reason`);
    return { cardIndex: cardIndex as number, outcome: decision, reason: typeof reason === 'string' && reason.trim() !== '' ? reason : null };
  });
}

function decisionBody(body: unknown): DecisionBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'INVALID_BODY', 'expected an object { decision, reason?, cards? }');
  const { decision, reason, cards, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0) {
    throw new HttpError(400, 'INVALID_BODY', `unexpected field(s): ${Object.keys(rest).join(', ')} (the approver comes from the token)`);
  }
  if (!DECISION_KINDS.includes(decision as DecisionKind)) throw new HttpError(400, 'INVALID_BODY', `decision must be one of ${DECISION_KINDS.join(', ')}`);
  if (reason !== undefined && reason !== null && typeof reason !== 'string') throw new HttpError(400, 'INVALID_BODY', 'reason must be a string');
  if (decision === 'REJECTED' && (typeof reason !== 'string' || reason.trim() === '')) {
    throw new HttpError(400, 'REASON_REQUIRED', 'a rejection needs a reason');
  }
  if (decision === 'REASSIGNED') throw new HttpError(400, 'INVALID_BODY', 'reassign through POST /api/requests/{id}/reassign');
  if (cards !== undefined && decision !== 'APPROVED') throw new HttpError(400, 'INVALID_BODY', 'cards come with decision APPROVED only');
  return { decision: decision as DecisionKind, reason: typeof reason === 'string' && reason.trim() !== '' ? reason : null, cardOutcomes: cardsBody(cards) };
}

/** A person in a body: { id, name, email, locale? }, held to the rules the worker applies. */
function personBody(value: unknown, label: string): Person {
  const { id, name, email, locale } = (value ?? {}) as Record<string, unknown>;
  if (typeof id !== 'string' || typeof name !== 'string' || typeof email !== 'string' || (locale !== undefined && locale !== null && typeof locale !== 'string')) {
    throw new HttpError(400, 'INVALID_BODY', `${label} must be { id, name, email, locale? }`);
  }
  const person = { id: id.trim(), name, email, locale: (locale as string | null | undefined) ?? null };
  const problems = personProblems(label, person);
  if (problems.length > 0) throw new HttpError(400, 'INVALID_BODY', problems.join('; '));
  return person;
}

/**
 * Free text needs a word of at least this many letters or digits: shorter text, or punctuation
 * alone, gives the trigram index nothing to narrow on and would hold a connection for a table scan.
 */
export const MIN_SEARCH_TEXT = 3;
const SEARCHABLE = new RegExp(`[\\p{L}\\p{N}]{${MIN_SEARCH_TEXT}}`, 'u');

function searchText(query: URLSearchParams): string | undefined {
  const text = pick(query, 'q');
  if (text !== undefined && !SEARCHABLE.test(text)) {
    throw new HttpError(400, 'INVALID_QUERY', `q needs at least ${MIN_SEARCH_TEXT} characters, with a word of ${MIN_SEARCH_TEXT} letters or digits`);
  }
  return text;
}

/** How many pending requests one tasks call reads at most before it answers with what it found. */
export const TASKS_SCAN_LIMIT = 1000;

/**
 * One page of the requests this approver may decide on, oldest first. The database lists the
 * pending requests that name them; the domain's rule (four-eyes) drops some, so a page is read in
 * rounds until it is full. The cursor is the position of the last row read, kept or dropped: the
 * next page starts after it and sees every row once. A call reads at most TASKS_SCAN_LIMIT rows,
 * then answers with fewer items and a cursor: only a null cursor means the end.
 */
async function tasksOf(queries: ApprovalQueries, who: Identity, standIns: Delegation[], limit: number, after: Position | undefined): Promise<{ items: ApprovalRecord[]; next: Position | null }> {
  const items: ApprovalRecord[] = [];
  const round = Math.max(limit + 1, 50);
  const asked = [...new Set([who.id, ...standIns.map((d) => d.approver.id)])];
  const now = Date.now();
  let position = after;
  for (let read = 0; read < TASKS_SCAN_LIMIT; ) {
    const rows = await queries.pendingFor(asked, round, position);
    for (const { record, position: at } of rows) {
      if (approverRefusal(record, who, standIns, now) === null) {
        // Another task beyond a full page: there is more, and it starts after the last row read.
        if (items.length === limit) return { items, next: position ?? null };
        items.push(record);
      }
      position = at;
    }
    if (rows.length < round) return { items, next: null };
    read += rows.length;
  }
  return { items, next: position ?? null };
}

const cursorOf = (position: Position | null): string | null => (position ? encodeCursor(position) : null);

/** Handles /api/* routes; returns the status and JSON body, or undefined for other paths. */
export async function handleApi(deps: ApiDeps, req: http.IncomingMessage, url: URL): Promise<{ status: number; body: unknown } | undefined> {
  const path = url.pathname;
  if (req.method === 'POST' && path === '/auth/local') {
    if (!deps.signInLocally) throw new HttpError(404, 'LOCAL_SIGNIN_DISABLED', 'local sign-in is off (AUTH_LOCAL_SIGNIN)');
    const body = (await readJson(req)) as Partial<Identity>;
    const roles = Array.isArray(body.roles) ? body.roles.filter(isRole) : [];
    if (typeof body.id !== 'string' || !body.id.trim() || typeof body.name !== 'string' || typeof body.email !== 'string' || roles.length === 0) {
      throw new HttpError(400, 'INVALID_BODY', 'expected { id, name, email, roles }');
    }
    return { status: 200, body: { token: await deps.signInLocally({ id: body.id.trim(), name: body.name, email: body.email, roles }) } };
  }
  if (!path.startsWith('/api/')) return undefined;
  const who = await deps.authenticate(req.headers.authorization);
  const requestMatch = /^\/api\/requests\/([^/]+)(\/decisions|\/reassign)?$/.exec(path);

  if (req.method === 'GET' && path === '/api/me') return { status: 200, body: who };

  if (req.method === 'GET' && path === '/api/requests') {
    const q = url.searchParams;
    onlyKnown(q, LIST_PARAMETERS.search);
    const sort = (pick(q, 'sort', SORTS) ?? '-opened_at') as Sort;
    const filter: SearchFilter = {
      status: pick(q, 'status', STATUSES),
      operation: pick(q, 'operation', OPERATIONS),
      approverId: pick(q, 'approver'),
      requesterId: pick(q, 'requester'),
      text: searchText(q),
      visibleTo: who.roles.includes('operator') ? undefined : who.id,
      sort,
      after: cursorIn(q, sort),
      limit: positive(q, 'limit', PAGE_LIMIT.default, PAGE_LIMIT.max),
    };
    const { items, next, total, totalCapped } = await deps.queries.search(filter);
    return { status: 200, body: { items, nextCursor: cursorOf(next), total, totalCapped } };
  }

  if (req.method === 'GET' && path === '/api/tasks') {
    if (!who.roles.includes('approver')) throw new HttpError(403, 'NOT_AN_APPROVER', 'only approvers have tasks');
    const q = url.searchParams;
    onlyKnown(q, LIST_PARAMETERS.tasks);
    const { items, next } = await tasksOf(deps.queries, who, await standInsOf(deps, who), positive(q, 'limit', PAGE_LIMIT.default, PAGE_LIMIT.max), cursorIn(q, 'opened_at'));
    return { status: 200, body: { items, nextCursor: cursorOf(next) } };
  }

  if (requestMatch) {
    const requestId = pathPart(requestMatch[1]!);
    const found = await deps.queries.get(requestId);
    if (!found) throw new HttpError(404, 'NOT_FOUND', `no request ${requestId}`);
    const standIns = await standInsOf(deps, who);
    if (!canSee(who, found.record, standIns)) throw new HttpError(403, 'FORBIDDEN', 'only the request\'s approvers, its requester and operators may see it');
    if (req.method === 'GET' && !requestMatch[2]) return { status: 200, body: found };
    if (req.method === 'POST' && requestMatch[2] === '/decisions') {
      const approval = decisionOn(found.record, who, decisionBody(await readJson(req)), standIns);
      await deps.publishDecisions([approval]);
      return { status: 202, body: accepted(approval) };
    }
    if (req.method === 'POST' && requestMatch[2] === '/reassign') {
      const { fromId, to } = reassignBody(await readJson(req));
      const reassignment = reassignOn(found.record, who, fromId, to);
      await deps.publishDecisions([reassignment]);
      return { status: 202, body: accepted(reassignment) };
    }
  }

  if (req.method === 'POST' && path === '/api/decisions') return { status: 200, body: await decideInBulk(deps, who, await readJson(req)) };
  if (req.method === 'POST' && path === '/api/reassignments') return { status: 200, body: await reassignAll(deps, who, await readJson(req)) };
  if (path === '/api/delegations' || path.startsWith('/api/delegations/')) return delegationRoute(deps, who, req, path);
  throw new HttpError(404, 'NOT_FOUND', `no route for ${req.method} ${path}`);
}

const personOf = (who: Identity): Person => ({ id: who.id, name: who.name, email: who.email, locale: null });

/** `{ from: ID, to: { id, name, email } }`: `from` names one of a request's approvers (this stage or later). */
function reassignBody(body: unknown): { fromId: string; to: Person } {
  const { from, to, ...rest } = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : { from: undefined }) as Record<string, unknown>;
  if (typeof from !== 'string' || idProblem('from', from) || Object.keys(rest).length > 0) throw new HttpError(400, 'INVALID_BODY', 'expected { from: approverId, to: { id, name, email } }');
  return { fromId: from.trim(), to: personBody(to, 'to') };
}

/** An operator's reassignment of `record`, refused here with the code the worker would give. */
function reassignOn(record: ApprovalRecord, who: Identity, fromId: string, to: Person): ApprovalDecision {
  if (!who.roles.includes('operator')) throw new HttpError(403, 'REASSIGNMENT_NOT_ALLOWED', 'only operators reassign requests');
  const from = [...record.stages.slice(record.stage).flatMap((s) => s.approvers), ...record.escalatedTo].find((p) => p.id.toLowerCase() === fromId.toLowerCase());
  if (!from) throw new HttpError(400, 'NOT_AN_APPROVER', `${fromId} has no part left in request ${record.requestId}`);
  const reassignment: ApprovalDecision = {
    decisionId: randomUUID(),
    requestId: record.requestId,
    decision: 'REASSIGNED',
    approver: personOf(who),
    reason: null,
    decidedAt: Date.now(),
    actingAs: 'OPERATOR',
    cardOutcomes: [],
    reassign: { from, to },
  };
  const refusal = reassignmentProblem(record, reassignment);
  if (refusal) throw new HttpError(refusal.code === 'REQUEST_CLOSED' || refusal.code === 'ALREADY_VOTED' ? 409 : refusal.code === 'REASSIGNMENT_NOT_ALLOWED' ? 403 : 400, refusal.code, refusal.message);
  return reassignment;
}

/** The most open requests one reassignment call moves; the answer says when more remain. */
export const REASSIGN_ALL_LIMIT = 1000;

/** Every open request of one approver to another person: `{ from: ID, to: { id, name, email } }`. */
async function reassignAll(deps: ApiDeps, who: Identity, body: unknown): Promise<{ reassigned: string[]; refused: unknown[]; more: boolean }> {
  if (!who.roles.includes('operator')) throw new HttpError(403, 'REASSIGNMENT_NOT_ALLOWED', 'only operators reassign requests');
  const { fromId, to } = reassignBody(body);
  const open = await deps.queries.openWith(fromId, REASSIGN_ALL_LIMIT + 1);
  const moved: ApprovalDecision[] = [];
  const refused: unknown[] = [];
  for (const record of open.slice(0, REASSIGN_ALL_LIMIT)) {
    try {
      moved.push(reassignOn(record, who, fromId, to));
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      refused.push({ requestId: record.requestId, status: error.status, error: error.code, message: error.message });
    }
  }
  for (let i = 0; i < moved.length; i += BULK_LIMIT) await deps.publishDecisions(moved.slice(i, i + BULK_LIMIT));
  return { reassigned: moved.map((d) => d.requestId), refused, more: open.length > REASSIGN_ALL_LIMIT };
}

/** The longest a delegation may run. */
export const DELEGATION_MAX_DAYS = 366;

/**
 * Delegations: GET lists those from or to the caller (an operator sees all), POST sets one up
 * (`{ delegate, startsAt?, endsAt, approver? }`: an approver for themselves, an operator for
 * anyone), DELETE /api/delegations/ID revokes one (its approver, or an operator).
 */
async function delegationRoute(deps: ApiDeps, who: Identity, req: http.IncomingMessage, path: string): Promise<{ status: number; body: unknown }> {
  const operator = who.roles.includes('operator');
  if (req.method === 'GET' && path === '/api/delegations') return { status: 200, body: { items: await deps.delegations.list(operator ? undefined : who.id) } };
  if (req.method === 'POST' && path === '/api/delegations') {
    const body = await readJson(req);
    const { delegate, startsAt, endsAt, approver, ...rest } = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw new HttpError(400, 'INVALID_BODY', `unexpected field(s): ${Object.keys(rest).join(', ')}`);
    if (!operator && !who.roles.includes('approver')) throw new HttpError(403, 'NOT_AN_APPROVER', 'only approvers delegate');
    if (approver !== undefined && !operator) throw new HttpError(403, 'FORBIDDEN', 'only an operator sets up a delegation for someone else');
    const from = approver === undefined ? personOf(who) : personBody(approver, 'approver');
    const to = personBody(delegate, 'delegate');
    const start = startsAt === undefined ? Date.now() : isoTime(startsAt);
    const end = isoTime(endsAt);
    if (Number.isNaN(start) || Number.isNaN(end) || end <= start || end <= Date.now() || end - start > DELEGATION_MAX_DAYS * 86_400_000) {
      throw new HttpError(400, 'INVALID_BODY', `startsAt (optional, default now) and endsAt are ISO times, endsAt later than both now and startsAt, at most ${DELEGATION_MAX_DAYS} days apart`);
    }
    if (samePerson(from, to)) throw new HttpError(400, 'INVALID_BODY', 'a delegate is someone else');
    return { status: 201, body: await deps.delegations.create({ approver: from, delegate: to, startsAt: start, endsAt: end }, personOf(who)) };
  }
  const match = /^\/api\/delegations\/([^/]+)$/.exec(path);
  if (req.method === 'DELETE' && match) {
    const found = await deps.delegations.get(pathPart(match[1]!));
    if (!found) throw new HttpError(404, 'NOT_FOUND', 'no such delegation');
    if (!operator && !samePerson(found.approver, who)) throw new HttpError(403, 'FORBIDDEN', 'only its approver or an operator revokes a delegation');
    const revoked = await deps.delegations.revoke(found.delegationId, personOf(who));
    return { status: 200, body: { ...(await deps.delegations.get(found.delegationId))!, revoked } };
  }
  throw new HttpError(404, 'NOT_FOUND', `no route for ${req.method} ${path}`);
}

const accepted = (d: ApprovalDecision) => ({ decisionId: d.decisionId, requestId: d.requestId, status: 'PUBLISHED' as const, poll: `/api/requests/${encodeURIComponent(d.requestId)}` });

/**
 * The decision `who` makes on `record`, with a decision id of its own, or the refusal the caller
 * hears at once: the rules the worker applies when it arrives, checked here too.
 */
export function decisionOn(record: ApprovalRecord, who: Identity, { decision, reason, cardOutcomes }: DecisionBody, standIns: Delegation[]): ApprovalDecision {
  const actingAs = decision === 'WITHDRAWN' ? withdrawingAs(who, record) : 'APPROVER';
  const approver = personOf(who);
  const approval: ApprovalDecision = { decisionId: randomUUID(), requestId: record.requestId, decision, approver, reason, decidedAt: Date.now(), actingAs, cardOutcomes, reassign: null };
  if (decision === 'WITHDRAWN') {
    const refusal = withdrawalRefusal(record, { approver, actingAs });
    if (refusal) throw new HttpError(refusal.code === 'REQUEST_CLOSED' ? 409 : 403, refusal.code, refusal.message);
  } else {
    const refusal = who.roles.includes('approver') ? approverRefusal(record, who, standIns, approval.decidedAt) : { code: 'NOT_AN_APPROVER', message: '' };
    if (refusal?.code === 'NOT_AN_APPROVER') throw new HttpError(403, 'NOT_AN_APPROVER', 'only the request\'s current approvers, and those standing in for one, may decide');
    if (refusal?.code === 'ALREADY_VOTED') throw new HttpError(409, refusal.code, refusal.message);
    const cards = cardOutcomesRefusal(record, approval);
    if (cards) throw new HttpError(cards.code === 'CARD_OUTCOMES_NOT_ALLOWED' ? 409 : 400, cards.code, cards.message);
  }
  // What the consumer would dead-letter is refused here.
  const problems = decisionProblems(approval);
  if (problems.length > 0) throw new HttpError(400, 'INVALID_CONTENT', problems.join('; '));
  return approval;
}

/** The most decisions one bulk call takes. */
export const BULK_LIMIT = 100;

/**
 * Many decisions in one call, `{ decisions: [{ requestId, decision, reason? }] }`: each request
 * gets its own decision id (replays stay idempotent) and its own result, accepted or refused with
 * the code and status its single call would have had. The accepted ones are published in one send.
 */
async function decideInBulk(deps: ApiDeps, who: Identity, body: unknown): Promise<{ results: unknown[] }> {
  const items = (body as { decisions?: unknown } | null)?.decisions;
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).some((k) => k !== 'decisions') || !Array.isArray(items)) {
    throw new HttpError(400, 'INVALID_BODY', 'expected { decisions: [{ requestId, decision, reason? }] }');
  }
  if (items.length < 1 || items.length > BULK_LIMIT) throw new HttpError(400, 'INVALID_BODY', `send 1 to ${BULK_LIMIT} decisions`);
  // A request twice in one call is refused whole, before anything is published: which one counts would be a guess.
  const requestIds = items.map((item: unknown) => (item as { requestId?: unknown } | null)?.requestId);
  if (new Set(requestIds).size < requestIds.length) throw new HttpError(400, 'INVALID_BODY', 'a request appears more than once');
  const standIns = await standInsOf(deps, who);
  const results = await Promise.all(
    items.map(async (item: unknown) => {
      const requestId = (item as { requestId?: unknown } | null)?.requestId;
      try {
        if (typeof requestId !== 'string' || idProblem('requestId', requestId)) throw new HttpError(400, 'INVALID_BODY', 'each decision needs a requestId');
        const { requestId: _, ...rest } = item as Record<string, unknown>;
        const parsed = decisionBody(rest);
        const found = await deps.queries.get(requestId);
        if (!found) throw new HttpError(404, 'NOT_FOUND', `no request ${requestId}`);
        if (!canSee(who, found.record, standIns)) throw new HttpError(403, 'FORBIDDEN', 'only the request\'s approvers, its requester and operators may see it');
        return { approval: decisionOn(found.record, who, parsed, standIns) };
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        return { refused: { requestId: typeof requestId === 'string' ? requestId : null, status: error.status, error: error.code, message: error.message } };
      }
    }),
  );
  const approvals = results.flatMap((r) => (r.approval ? [r.approval] : []));
  if (approvals.length > 0) await deps.publishDecisions(approvals);
  return { results: results.map((r) => (r.approval ? { ...accepted(r.approval), status: 202 } : r.refused)) };
}
