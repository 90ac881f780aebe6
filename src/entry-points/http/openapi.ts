// What the OpenAPI document says beside its routes: the routes themselves, with their parameters,
// bodies and answers, come from their declarations (@fastify/swagger over the zod schemas), so the
// document and the behaviour cannot disagree. Served at GET /openapi.json.

export const OPENAPI_INFO = {
  title: 'Card approvals API',
  version: '1.1.0',
  license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
  description:
    'Reads approval requests; decisions, withdrawals and reassignments are published to the decisions topic (202) and applied by the worker, which checks every rule again. ' +
    'Where the API holds the facts it refuses at once with the code the worker would give: SELF_APPROVAL, HOLDER_APPROVAL, NOT_AN_APPROVER (403), REQUEST_CLOSED (also for a request past its expiry), ALREADY_VOTED, CARD_OUTCOMES_NOT_ALLOWED (409), REASON_REQUIRED, CARD_OUTCOMES_INVALID, INVALID_CONTENT (400). ' +
    'A refusal only the worker can give (a reassignment that would leave a stage short) arrives as a DECISION_REFUSED event. Delegations are written by the API itself. ' +
    'Every call is held to its declaration: unknown parameters and fields are refused, numbers are plain decimal integers, bodies are UTF-8 JSON (415 otherwise) of at most 16 KiB (413), and an id in a path with a control character is 400 INVALID_PATH.',
};

export const OPENAPI_TAGS = [
  { name: 'Requests', description: 'Approval requests, their history, and an approver\'s tasks' },
  { name: 'Decisions', description: 'Decisions, withdrawals and reassignments, published on the decisions topic' },
  { name: 'Delegations', description: 'Who stands in for an approver, and when' },
  { name: 'Operations', description: 'What waits for an operator (parked events and timers), and putting it back after a fix' },
  { name: 'Personal data', description: "One person's data: erased (pseudonymised everywhere), or exported for their access request" },
  { name: 'Audit', description: "Whether each request's history is still the chain stored, the decisions it holds, and the hashes to publish" },
  { name: 'Session', description: 'Who is signed in, and how the page signs in' },
  { name: 'Email actions', description: 'One-click decisions from approver emails (HTML pages)' },
  { name: 'Health', description: 'Probes, metrics and contracts' },
];

export const BEARER_SCHEME = { bearer: { type: 'http' as const, scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT from the identity provider (AUTH_JWKS_URL: RS256, PS256, ES256 or EdDSA), or a local token (AUTH_SECRET: HS256).' } };
