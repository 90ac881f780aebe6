// The API's contract, served at GET /openapi.json. Tests validate real responses against these
// schemas, so the document cannot drift from what the server answers.
import { MAX_TEXT } from '../../domain/validate-message';
import { SORTS } from '../../data-access/request-order';
import { OPERATIONS } from '../../domain/card-operation';
import { DECISION_KINDS } from '../../domain/card-operation';
import { BULK_LIMIT, LIST_PARAMETERS, MIN_SEARCH_TEXT, PAGE_LIMIT, STATUSES, TASKS_SCAN_LIMIT } from './approvals-api';
import { APPROVAL_EVENT_TYPES } from '../../domain/approval';

const person = {
  type: 'object',
  required: ['id', 'name', 'email'],
  properties: { id: { type: 'string' }, name: { type: 'string' }, email: { type: 'string' }, locale: { type: ['string', 'null'] } },
};
const nullableTime = { type: ['number', 'null'] };

const approvalRecord = {
  type: 'object',
  required: ['requestId', 'operation', 'status', 'requester', 'cards', 'approvers', 'requestedAt', 'openedAt', 'version'],
  properties: {
    requestId: { type: 'string' },
    operation: { enum: ['REQUEST_CARD', 'DEACTIVATE_CARD', 'REACTIVATE_CARD', 'LOCK_CARD', 'REQUEST_MULTIPLE_CARDS'] },
    status: { enum: [...STATUSES] },
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
    approvers: { type: 'array', items: { $ref: '#/components/schemas/Person' }, description: 'Who may decide: the request\'s approvers, then any who joined by escalation' },
    escalatedTo: { type: 'array', items: { $ref: '#/components/schemas/Person' }, description: 'Those of approvers who joined by escalation' },
    description: { type: ['string', 'null'] },
    attributes: { type: 'object', additionalProperties: { type: 'string' } },
    requestedAt: { type: 'number' },
    openedAt: { type: 'number' },
    updatedAt: { type: 'number' },
    closedAt: nullableTime,
    outcomeDecisionId: { type: ['string', 'null'] },
    lastPostponedBy: { oneOf: [{ type: 'null' }, { $ref: '#/components/schemas/Person' }] },
    lastPostponedAt: nullableTime,
    dueAt: { ...nullableTime, description: "The request's own due date (upstream's): the approval expires by then at the latest." },
    version: { type: 'integer' },
  },
};

const error = { type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' } } };
const errors = Object.fromEntries(
  [400, 401, 403, 404, 503].map((status) => [
    status,
    { description: status === 503 ? 'the database is busy or away (UNAVAILABLE): try again after Retry-After seconds' : 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
  ]),
);
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
  info: { title: 'Card approvals API', version: '1.0.0', description: 'Reads approval requests; decisions are published to the decisions topic (202).' },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    schemas: {
      Person: person,
      ApprovalRecord: approvalRecord,
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
                type: { enum: [...APPROVAL_EVENT_TYPES] },
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
        description: 'WITHDRAWN withdraws the request (it ends CANCELLED): allowed to its requester (role requester) and to operators; anyone else gets 403 WITHDRAWAL_NOT_ALLOWED.',
        properties: { decision: { enum: [...DECISION_KINDS] }, reason: { type: 'string', maxLength: MAX_TEXT } },
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
            items: { type: 'object', additionalProperties: false, required: ['requestId', 'decision'], properties: { requestId: { type: 'string' }, decision: { enum: [...DECISION_KINDS] }, reason: { type: 'string', maxLength: MAX_TEXT } } },
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
        summary: "Decide as the token's approver, or withdraw as the request's requester or an operator; published on the decisions topic",
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/DecisionRequest' } } } },
        responses: { 202: ok('DecisionAccepted', 'published; poll the request for the outcome'), ...errors },
      },
    },
    '/api/decisions': {
      post: {
        summary: `Many decisions in one call (1 to ${BULK_LIMIT}), each with its own decisionId and result; the accepted ones are published in one send`,
        requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/BulkDecisionRequest' } } } },
        responses: { 200: ok('BulkDecisionResult'), ...errors },
      },
    },
    '/api/tasks': {
      get: {
        summary: "The signed-in approver's open tasks, postponed ones included, oldest first",
        parameters: queryParameters(LIST_PARAMETERS.tasks),
        responses: { 200: ok('Tasks'), ...errors },
      },
    },
  },
};
