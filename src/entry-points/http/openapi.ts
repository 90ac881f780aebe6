// The API's contract, served at GET /openapi.json. Tests validate real responses against these
// schemas, so the document cannot drift from what the server answers.
import { MAX_CARDS_EVER, MAX_TEXT } from '../../domain/validate-message';
import { SORTS } from '../../data-access/request-order';
import { OPERATIONS } from '../../domain/card-operation';
import { DECISION_KINDS, VOTE_MODES } from '../../domain/card-operation';
import { BULK_LIMIT, DELEGATION_MAX_DAYS, LIST_PARAMETERS, MIN_SEARCH_TEXT, PAGE_LIMIT, REASSIGN_ALL_LIMIT, STATUSES, TASKS_SCAN_LIMIT } from './approvals-api';
import { APPROVAL_EVENT_TYPES, REFUSAL_CODES } from '../../domain/approval';

const person = {
  type: 'object',
  required: ['id', 'name', 'email'],
  properties: { id: { type: 'string' }, name: { type: 'string' }, email: { type: 'string' }, locale: { type: ['string', 'null'] } },
};
const nullableTime = { type: ['number', 'null'] };
const nullablePerson = { oneOf: [{ type: 'null' }, { $ref: '#/components/schemas/Person' }] };
const people = { type: 'array', items: { $ref: '#/components/schemas/Person' } };

/** The decisions the API takes in a body: an approver's, or a withdrawal (a reassignment has its own route). */
const API_DECISIONS = DECISION_KINDS.filter((kind) => kind !== 'REASSIGNED');

const voteRule = {
  type: 'object',
  required: ['mode', 'quorum'],
  description: 'ANY: the first approval or rejection decides. ALL: every approver of the stage who may decide (not the requester or a holder) must approve. QUORUM: `quorum` approvals. Any counted rejection ends the request REJECTED.',
  properties: { mode: { enum: [...VOTE_MODES] }, quorum: { type: ['integer', 'null'], minimum: 1, description: 'QUORUM only; null otherwise' } },
};

const cardOutcome = {
  type: 'object',
  required: ['cardIndex', 'outcome', 'reason'],
  properties: { cardIndex: { type: 'integer', minimum: 0, description: "the card's position in `cards`, from 0" }, outcome: { enum: ['APPROVED', 'REJECTED'] }, reason: { type: ['string', 'null'] } },
};

/** Per-card answers in a decision body (REQUEST_MULTIPLE_CARDS under the single-vote ANY policy, with decision APPROVED). */
const cardsInBody = {
  type: 'array',
  description:
    'Per-card answers, with decision APPROVED on a REQUEST_MULTIPLE_CARDS request whose policy is one ANY stage (else 409 CARD_OUTCOMES_NOT_ALLOWED). ' +
    'Cards not named are approved; a rejected card needs a reason (400 REASON_REQUIRED); a card index outside the request, or named twice, is 400 CARD_OUTCOMES_INVALID. ' +
    'The request ends APPROVED, REJECTED (every card rejected) or PARTIALLY_APPROVED.',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['cardIndex', 'decision'],
    properties: { cardIndex: { type: 'integer', minimum: 0, maximum: MAX_CARDS_EVER - 1 }, decision: { enum: ['APPROVED', 'REJECTED'] }, reason: { type: ['string', 'null'], maxLength: MAX_TEXT } },
  },
};

const approvalRecord = {
  type: 'object',
  required: ['requestId', 'operation', 'status', 'requester', 'cards', 'approvers', 'stages', 'stage', 'votes', 'cardResults', 'requestedAt', 'openedAt', 'version'],
  properties: {
    requestId: { type: 'string' },
    operation: { enum: ['REQUEST_CARD', 'DEACTIVATE_CARD', 'REACTIVATE_CARD', 'LOCK_CARD', 'REQUEST_MULTIPLE_CARDS'] },
    status: { enum: [...STATUSES], description: 'PENDING until it ends; PARTIALLY_APPROVED: a multi-card request with some cards approved and some rejected (see cardResults)' },
    requester: { $ref: '#/components/schemas/Person' },
    cards: {
      type: 'array',
      items: {
        type: 'object',
        required: ['cardType', 'holder'],
        properties: {
          cardId: { type: ['string', 'null'] },
          cardType: { type: 'string' },
          serialNumber: { type: ['string', 'null'] },
          holder: { $ref: '#/components/schemas/Person' },
          status: { type: ['string', 'null'] },
          validTo: nullableTime,
        },
      },
    },
    approvers: { ...people, description: "Who is asked now: the active stage's approvers, then any who joined by escalation" },
    escalatedTo: { ...people, description: 'Those of approvers who joined by escalation (they join the active stage, and every stage after it)' },
    requestedApprovers: { oneOf: [{ type: 'null' }, people], description: 'The approvers the request named, as it named them (null for requests opened before this field)' },
    approvalRule: { oneOf: [{ type: 'null' }, { $ref: '#/components/schemas/VoteRule' }], description: "The request's own rule, where its operation's policy allows one (requestRule allow); null: the policy's stages decide" },
    stages: {
      type: 'array',
      minItems: 1,
      description: "The policy's stages, resolved to people when the request opened (and changed since only by reassignment); asked in order",
      items: { $ref: '#/components/schemas/Stage' },
    },
    stage: { type: 'integer', minimum: 0, description: 'The active stage, an index into stages (from 0)' },
    votes: {
      type: 'array',
      description: 'Approvals and rejections counted, in order (postponements are not votes). A person counts once per request, whoever they act for.',
      items: { $ref: '#/components/schemas/Vote' },
    },
    cardResults: { type: 'array', items: { $ref: '#/components/schemas/CardOutcome' }, description: 'How each card of a REQUEST_MULTIPLE_CARDS request ended, once it has; empty otherwise' },
    description: { type: ['string', 'null'] },
    attributes: { type: 'object', additionalProperties: { type: 'string' } },
    requestedAt: { type: 'number' },
    openedAt: { type: 'number' },
    updatedAt: { type: 'number' },
    closedAt: nullableTime,
    outcomeDecisionId: { type: ['string', 'null'] },
    lastPostponedBy: nullablePerson,
    lastPostponedAt: nullableTime,
    dueAt: { ...nullableTime, description: "The request's own due date (upstream's): the approval expires by then at the latest." },
    version: { type: 'integer' },
  },
};

const error = {
  type: 'object',
  required: ['error', 'message'],
  description: `error is a code: TOKEN_MISSING, TOKEN_INVALID, FORBIDDEN, NOT_FOUND, INVALID_BODY, INVALID_JSON, INVALID_QUERY, INVALID_CURSOR, INVALID_CONTENT, INVALID_PATH, BODY_TOO_LARGE, UNAVAILABLE, or a refusal code the worker would give (${REFUSAL_CODES.join(', ')}). New codes may be added.`,
  properties: { error: { type: 'string' }, message: { type: 'string' } },
};
const ERROR_MEANS: Record<number, string> = {
  400: 'the body or query breaks a rule (INVALID_BODY, REASON_REQUIRED, CARD_OUTCOMES_INVALID, INVALID_QUERY, INVALID_CURSOR, INVALID_CONTENT, INVALID_PATH…)',
  401: 'no token, or one that does not verify (TOKEN_MISSING, TOKEN_INVALID)',
  403: 'not allowed (FORBIDDEN, NOT_AN_APPROVER, WITHDRAWAL_NOT_ALLOWED, REASSIGNMENT_NOT_ALLOWED)',
  404: 'no such request, delegation or route (NOT_FOUND)',
  409: 'the request does not take this now (REQUEST_CLOSED, ALREADY_VOTED, CARD_OUTCOMES_NOT_ALLOWED)',
  413: 'the body is larger than 16 KiB (BODY_TOO_LARGE)',
  503: 'a service the worker needs is busy or away (UNAVAILABLE): the database, the broker or the schema registry; try again after Retry-After seconds',
};
const errorsOf = (statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, { description: ERROR_MEANS[status] ?? 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]));
const errors = errorsOf([400, 401, 403, 404, 503]);
/** The errors of a call that publishes a decision on a request: the request may have ended, or the caller already voted. */
const decisionErrors = errorsOf([400, 401, 403, 404, 409, 413, 503]);
const nextCursor = {
  type: ['string', 'null'],
  description: 'pass it as `cursor` (with the same sort and filters) for the next page; null on the last page',
};
/** The query parameters of the lists, described once for both (tasks take a few of search's). */
const QUERY_PARAMETERS: Record<(typeof LIST_PARAMETERS.search)[number], { schema: object; description?: string }> = {
  status: { schema: { enum: [...STATUSES] } },
  operation: { schema: { enum: [...OPERATIONS] } },
  approver: { schema: { type: 'string' }, description: 'an approver id' },
  requester: { schema: { type: 'string' }, description: 'a requester id' },
  q: { schema: { type: 'string', minLength: MIN_SEARCH_TEXT }, description: 'free text: request id, requester name, description, card ids and serial numbers' },
  sort: { schema: { enum: [...SORTS], default: '-opened_at' }, description: 'by opened time, newest first (-opened_at) or oldest first; ties by request id' },
  cursor: { schema: { type: 'string' }, description: 'the nextCursor of the previous page; opaque. A cursor not given out by this API, or for another sort, is a 400 INVALID_CURSOR' },
  limit: { schema: { type: 'integer', minimum: 1, maximum: PAGE_LIMIT.max, default: PAGE_LIMIT.default } },
};
const queryParameters = (names: ReadonlyArray<keyof typeof QUERY_PARAMETERS>) => names.map((name) => ({ name, in: 'query', ...QUERY_PARAMETERS[name] }));

const ok = (schema: string, description = 'ok') => ({ description, content: { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } } });

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Card approvals API',
    version: '1.0.0',
    description: 'Reads approval requests; decisions, withdrawals and reassignments are published to the decisions topic (202) and applied by the worker, which checks every rule again. Delegations are written by the API itself.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    schemas: {
      Person: person,
      ApprovalRecord: approvalRecord,
      VoteRule: voteRule,
      Stage: {
        type: 'object',
        required: ['name', 'rule', 'approvers'],
        properties: { name: { type: 'string' }, rule: { $ref: '#/components/schemas/VoteRule' }, approvers: people },
      },
      Vote: {
        type: 'object',
        required: ['stage', 'approver', 'onBehalfOf', 'decision', 'decisionId', 'decidedAt'],
        properties: {
          stage: { type: 'integer', minimum: 0, description: 'the stage it was cast in, from 0' },
          approver: { $ref: '#/components/schemas/Person' },
          onBehalfOf: { ...nullablePerson, description: 'the listed approver a delegate decided for; null when the approver decided in person' },
          decision: { enum: ['APPROVED', 'REJECTED'] },
          decisionId: { type: 'string' },
          decidedAt: { type: 'number' },
        },
      },
      CardOutcome: cardOutcome,
      Error: error,
      SearchResult: {
        type: 'object',
        additionalProperties: false,
        required: ['items', 'nextCursor', 'total', 'totalCapped'],
        properties: {
          items: { type: 'array', maxItems: PAGE_LIMIT.max, items: { $ref: '#/components/schemas/ApprovalRecord' } },
          nextCursor,
          total: { type: 'integer', description: 'every match (not only those after the cursor), counted up to 10,000' },
          totalCapped: { type: 'boolean', description: 'true when there are more than 10,000 matches' },
        },
      },
      RequestWithHistory: {
        type: 'object',
        required: ['record', 'history'],
        properties: {
          record: { $ref: '#/components/schemas/ApprovalRecord' },
          history: {
            type: 'array',
            items: {
              type: 'object',
              required: ['eventId', 'type', 'occurredAt'],
              properties: {
                eventId: { type: 'string' },
                type: {
                  enum: [...APPROVAL_EVENT_TYPES],
                  description: 'VOTED: an approval or rejection counted under a policy that needs more than one vote, before any end it brings; REASSIGNED: an operator moved an approver\'s part to another person; PARTIALLY_APPROVED: a multi-card request ended with some cards rejected. New types may be added.',
                },
                message: { type: ['string', 'null'], description: "The event's own explanation: a vote's progress (\"Stage 1 of 2 (line manager): 1 of 1 approvals; stage 2 (security) is asked.\"), a delegate deciding for an approver, a reassignment, a refusal, a reminder…" },
                statusBefore: { type: ['string', 'null'] },
                statusAfter: { type: ['string', 'null'] },
                actor: {},
                reason: { type: ['string', 'null'] },
                occurredAt: { type: 'string' },
              },
            },
          },
        },
      },
      Tasks: {
        type: 'object',
        additionalProperties: false,
        required: ['items', 'nextCursor'],
        description: `A page may hold fewer than limit items (one call reads at most ${TASKS_SCAN_LIMIT} pending requests); only a null nextCursor means the end.`,
        properties: { items: { type: 'array', maxItems: PAGE_LIMIT.max, items: { $ref: '#/components/schemas/ApprovalRecord' } }, nextCursor },
      },
      DecisionRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['decision'],
        description:
          'APPROVED, REJECTED (reason required) or POSTPONED by one of the request\'s current approvers, or by a delegate standing in for one (the vote counts for that approver; event decision.onBehalfOf). ' +
          'Under ALL, QUORUM or staged policies each approval or rejection is a vote (409 ALREADY_VOTED when the caller, or the approver they stand in for, has voted); a postponement is no vote. ' +
          'WITHDRAWN withdraws the request (it ends CANCELLED): allowed to its requester (role requester) and to operators; anyone else gets 403 WITHDRAWAL_NOT_ALLOWED. ' +
          'Reassignments go through POST /api/requests/{requestId}/reassign.',
        properties: { decision: { enum: API_DECISIONS }, reason: { type: 'string', maxLength: MAX_TEXT }, cards: cardsInBody },
      },
      BulkDecisionRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['decisions'],
        properties: {
          decisions: {
            type: 'array',
            minItems: 1,
            maxItems: BULK_LIMIT,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['requestId', 'decision'],
              properties: { requestId: { type: 'string' }, decision: { enum: API_DECISIONS }, reason: { type: 'string', maxLength: MAX_TEXT }, cards: cardsInBody },
            },
          },
        },
      },
      BulkDecisionResult: {
        type: 'object',
        required: ['results'],
        description: 'One result per decision sent, in order: 202 with its decisionId, or the status and error code its single call would have had.',
        properties: {
          results: {
            type: 'array',
            items: {
              oneOf: [
                { type: 'object', required: ['requestId', 'status', 'decisionId', 'poll'], properties: { requestId: { type: 'string' }, status: { const: 202 }, decisionId: { type: 'string' }, poll: { type: 'string' } } },
                { type: 'object', required: ['requestId', 'status', 'error', 'message'], properties: { requestId: { type: ['string', 'null'] }, status: { type: 'integer', minimum: 400 }, error: { type: 'string' }, message: { type: 'string' } } },
              ],
            },
          },
        },
      },
      DecisionAccepted: {
        type: 'object',
        required: ['decisionId', 'requestId', 'status', 'poll'],
        properties: { decisionId: { type: 'string' }, requestId: { type: 'string' }, status: { const: 'PUBLISHED' }, poll: { type: 'string' } },
      },
      Reassignment: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to'],
        description:
          "Hands one approver's part in a request (in the active stage, a later one, or the escalation group) to another person. Operators only. " +
          '`to` must be someone who may decide (not the requester or a holder: 400 SELF_APPROVAL, HOLDER_APPROVAL) and has not voted on the request (400 ALREADY_VOTED). ' +
          'Votes already cast stay as they were. The worker checks it again: a reassignment that would leave a stage short of the approvals it needs is refused there (DECISION_REFUSED, REASSIGNMENT_NOT_ALLOWED).',
        properties: { from: { type: 'string', description: 'the approver id whose part moves' }, to: { $ref: '#/components/schemas/Person' } },
      },
      ReassignmentResult: {
        type: 'object',
        additionalProperties: false,
        required: ['reassigned', 'refused', 'more'],
        description: `Published reassignments of up to ${REASSIGN_ALL_LIMIT} pending requests in which \`from\` has a part, oldest first; the worker applies each from the decisions topic.`,
        properties: {
          reassigned: { type: 'array', items: { type: 'string' }, description: 'the request ids whose reassignment was published' },
          refused: {
            type: 'array',
            description: 'the requests refused, with the status and code a single reassignment would have had',
            items: { type: 'object', required: ['requestId', 'status', 'error', 'message'], properties: { requestId: { type: 'string' }, status: { type: 'integer', minimum: 400 }, error: { type: 'string' }, message: { type: 'string' } } },
          },
          more: { type: 'boolean', description: `true when more than ${REASSIGN_ALL_LIMIT} requests matched: call again` },
        },
      },
      NewDelegation: {
        type: 'object',
        additionalProperties: false,
        required: ['delegate', 'endsAt'],
        description:
          `The delegate stands in for the approver from startsAt to endsAt (ISO 8601 times; startsAt defaults to now; endsAt later than now and startsAt, at most ${DELEGATION_MAX_DAYS} days after startsAt). ` +
          'An approver sets one up for themselves; only an operator names another approver (`approver`; 403 FORBIDDEN otherwise). The delegate is someone else, and needs the approver role in their token to act.',
        properties: {
          delegate: { $ref: '#/components/schemas/Person' },
          startsAt: { type: 'string', description: 'ISO 8601 date-time' },
          endsAt: { type: 'string', description: 'ISO 8601 date-time' },
          approver: { $ref: '#/components/schemas/Person' },
        },
      },
      Delegation: {
        type: 'object',
        required: ['delegationId', 'approver', 'delegate', 'startsAt', 'endsAt', 'createdBy', 'createdAt', 'revokedBy', 'revokedAt'],
        description: 'Times are epoch milliseconds. A revoked delegation is kept, with who revoked it and when.',
        properties: {
          delegationId: { type: 'string' },
          approver: { $ref: '#/components/schemas/Person' },
          delegate: { $ref: '#/components/schemas/Person' },
          startsAt: { type: 'number' },
          endsAt: { type: 'number' },
          createdBy: { $ref: '#/components/schemas/Person' },
          createdAt: { type: 'number' },
          revokedBy: nullablePerson,
          revokedAt: nullableTime,
        },
      },
      Delegations: {
        type: 'object',
        additionalProperties: false,
        required: ['items'],
        description: 'Delegations not yet ended (revoked ones included), newest first, at most 200: those from or to the caller; every one for an operator.',
        properties: { items: { type: 'array', items: { $ref: '#/components/schemas/Delegation' } } },
      },
      RevokedDelegation: {
        allOf: [{ $ref: '#/components/schemas/Delegation' }],
        type: 'object',
        required: ['revoked'],
        description: 'The delegation as it was before this call, and whether this call revoked it (false: it already was).',
        properties: { revoked: { type: 'boolean' } },
      },
    },
  },
  security: [{ bearer: [] }],
  paths: {
    '/api/requests': {
      get: {
        summary: 'Search approval requests (approvers see the requests they approve, requesters their own; operators see all)',
        parameters: queryParameters(LIST_PARAMETERS.search),
        responses: { 200: ok('SearchResult'), ...errors },
      },
    },
    '/api/requests/{requestId}': {
      get: { summary: 'One request with its full history', responses: { 200: ok('RequestWithHistory'), ...errors } },
    },
    '/api/requests/{requestId}/decisions': {
      post: {
        summary: "Decide as the token's approver (or as a delegate for one), or withdraw as the request's requester or an operator; published on the decisions topic",
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/DecisionRequest' } } } },
        responses: { 202: ok('DecisionAccepted', 'published; poll the request for the outcome'), ...decisionErrors },
      },
    },
    '/api/requests/{requestId}/reassign': {
      post: {
        summary: "An operator hands one approver's part in this request to another person; published on the decisions topic as REASSIGNED",
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Reassignment' } } } },
        responses: { 202: ok('DecisionAccepted', 'published; the request\'s history shows REASSIGNED (or DECISION_REFUSED)'), ...decisionErrors },
      },
    },
    '/api/reassignments': {
      post: {
        summary: "An operator hands one approver's part in all their pending requests to another person",
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Reassignment' } } } },
        responses: { 200: ok('ReassignmentResult'), ...errorsOf([400, 401, 403, 413, 503]) },
      },
    },
    '/api/delegations': {
      get: { summary: 'Delegations from or to the caller (operators: all)', responses: { 200: ok('Delegations'), ...errorsOf([401, 503]) } },
      post: {
        summary: 'Set up a delegation: an approver for themselves, an operator for anyone. Written by the API directly (not through Kafka); the worker reads it when a delegate decides.',
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/NewDelegation' } } } },
        responses: { 201: ok('Delegation', 'set up'), ...errorsOf([400, 401, 403, 413, 503]) },
      },
    },
    '/api/delegations/{delegationId}': {
      delete: {
        summary: 'Revoke a delegation (its approver, or an operator). It gives nothing from then on, to decisions still on their way included.',
        responses: { 200: ok('RevokedDelegation'), ...errorsOf([401, 403, 404, 503]) },
      },
    },
    '/api/decisions': {
      post: {
        summary: `Many decisions in one call (1 to ${BULK_LIMIT}), each with its own decisionId and result; the accepted ones are published in one send`,
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/BulkDecisionRequest' } } } },
        responses: { 200: ok('BulkDecisionResult'), ...errorsOf([400, 401, 413, 503]) },
      },
    },
    '/api/tasks': {
      get: {
        summary: "The signed-in approver's open tasks, postponed ones included, oldest first: the requests they may still vote on, and those of the approvers they stand in for",
        parameters: queryParameters(LIST_PARAMETERS.tasks),
        responses: { 200: ok('Tasks'), ...errors },
      },
    },
  },
};
