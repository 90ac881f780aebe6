// The API's shapes, declared once as zod schemas: the routes validate requests and answers with
// them, and the OpenAPI document is made from them (named ones become components).
import { z } from 'zod';
import { APPROVAL_EVENT_TYPES, REFUSAL_CODES } from '../../domain/approval';
import { CHAIN_PROBLEMS } from '../../domain/audit-chain';
import { ACTOR_ROLES, DECISION_KINDS, OPERATIONS, STATUSES, VOTE_MODES } from '../../domain/card-operation';
import { ROLES } from '../../domain/callers';
import { MAX_CARDS_EVER, MAX_TEXT, TIMESTAMP_RANGE, idProblem, personProblems, textProblem } from '../../domain/validate-message';
import { SORTS } from '../../data-access/request-order';
import { API_ERROR_CODES } from './http-errors';

/** Names a schema: the document shows it once, under components, and refers to it. */
const named = <T extends z.ZodType>(id: string, schema: T, description?: string): T => {
  z.globalRegistry.add(schema, { id, ...(description ? { description } : {}) });
  return schema;
};

/** Items per page of a list (search, tasks): `limit` in the query, this many when it is absent. */
export const PAGE_LIMIT = { default: 20, max: 200 } as const;
/** The most decisions one bulk call takes. */
export const BULK_LIMIT = 100;
/** The most open requests one reassignment call moves; the answer says when more remain. */
export const REASSIGN_ALL_LIMIT = 1000;
/** The longest a delegation may run. */
export const DELEGATION_MAX_DAYS = 366;
/**
 * Free text needs a word of at least this many letters or digits: shorter text, or punctuation
 * alone, gives the trigram index nothing to narrow on and would hold a connection for a table scan.
 */
export const MIN_SEARCH_TEXT = 3;
const SEARCHABLE = new RegExp(`[\\p{L}\\p{N}]{${MIN_SEARCH_TEXT}}`, 'u');

/**
 * A string held to a content rule of the domain's, which names what is wrong: the one the consumer
 * applies to messages, answered INVALID_CONTENT as it is in the dead-letter topic.
 */
const ruled = (rule: (value: string) => string | undefined) =>
  z.string().superRefine((value, ctx) => {
    const problem = rule(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, params: { code: 'INVALID_CONTENT' } });
  });

/** An id in a path or a query: one line, no control characters, at most 200 characters. */
export const anId = (label: string) =>
  // A query decodes bytes that are not UTF-8 to U+FFFD: not the text sent.
  ruled((v) => (v.includes('\uFFFD') ? `${label} is not valid UTF-8` : idProblem(label, v))).meta({ maxLength: 200, description: 'one line, no control characters' });
/** Free text (a reason): no NUL or other control character but line breaks and tabs, at most MAX_TEXT. */
const freeText = (label: string) => ruled((v) => textProblem(label, v)).max(MAX_TEXT);
/** A plain decimal integer in a query, from `min` to `max`: no sign, exponent, hexadecimal or leading zero. */
const queryInt = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,8}$/, { error: `must be a plain decimal integer from ${min} to ${max}` })
    .transform(Number)
    .pipe(z.number().min(min).max(max))
    .default(fallback)
    .meta({ type: 'integer', minimum: min, maximum: max, default: fallback });

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;
/** An ISO 8601 date or time (`2026-12-24`, `2026-12-24T17:00:00Z`) between 1970 and 9999, read as epoch ms. */
const isoTime = z
  .string()
  .regex(ISO_TIME, { error: 'must be an ISO 8601 date or time' })
  .transform((v) => Date.parse(v))
  .pipe(z.number().min(TIMESTAMP_RANGE.min).max(TIMESTAMP_RANGE.max))
  .meta({ type: 'string', format: 'date-time' });

export const Person = named(
  'Person',
  z.object({ id: z.string(), name: z.string(), email: z.string(), locale: z.string().nullable().optional() }),
);

/** A person in a body, held to the rules the worker applies to people. */
const personIn = (label: string) =>
  z
    .strictObject({ id: z.string(), name: z.string(), email: z.string(), locale: z.string().nullable().optional() })
    .transform((p) => ({ id: p.id.trim(), name: p.name, email: p.email, locale: p.locale ?? null }))
    .superRefine((p, ctx) => {
      for (const problem of personProblems(label, p)) ctx.addIssue({ code: 'custom', message: problem, params: { code: 'INVALID_CONTENT' } });
    });

export const ApiError = named(
  'Error',
  z.object({
    error: z.string().describe(`A code: ${[...API_ERROR_CODES, ...REFUSAL_CODES].join(', ')}. New codes may be added.`),
    message: z.string(),
  }),
);

const VoteRule = named(
  'VoteRule',
  z.object({ mode: z.enum(VOTE_MODES), quorum: z.number().int().min(1).nullable().describe('QUORUM only; null otherwise') }),
  'ANY: the first approval or rejection decides. ALL: every approver of the stage who may decide (not the requester or a holder) must approve. QUORUM: `quorum` approvals. Any counted rejection ends the request REJECTED.',
);
const people = z.array(Person);
const nullableTime = z.number().nullable();
const CardOutcome = named('CardOutcome', z.object({ cardIndex: z.number().int().min(0).describe("the card's position in `cards`, from 0"), outcome: z.enum(['APPROVED', 'REJECTED']), reason: z.string().nullable() }));
const Stage = named('Stage', z.object({ name: z.string(), rule: VoteRule, approvers: people }));
const Vote = named(
  'Vote',
  z.object({
    stage: z.number().int().min(0).describe('the stage it was cast in, from 0'),
    approver: Person,
    onBehalfOf: Person.nullable().describe('the listed approver a delegate decided for; null when the approver decided in person'),
    decision: z.enum(['APPROVED', 'REJECTED']),
    decisionId: z.string(),
    decidedAt: z.number(),
  }),
);

export const ApprovalRecord = named(
  'ApprovalRecord',
  z.object({
    requestId: z.string(),
    operation: z.enum(OPERATIONS),
    status: z.enum(STATUSES).describe('PENDING until it ends; PARTIALLY_APPROVED: a multi-card request with some cards approved and some rejected (see cardResults)'),
    requester: Person,
    cards: z.array(z.object({ cardId: z.string().nullable().optional(), cardType: z.string(), serialNumber: z.string().nullable().optional(), holder: Person, status: z.string().nullable().optional(), validTo: nullableTime.optional() })),
    approvers: people.describe("Who is asked now: the active stage's approvers, then any who joined by escalation"),
    escalatedTo: people.describe('Those of approvers who joined by escalation (they join the active stage, and every stage after it)'),
    requestedApprovers: people.nullable().describe('The approvers the request named, as it named them (null for requests opened before this field)'),
    approvalRule: VoteRule.nullable().describe("The request's own rule, where its operation's policy allows one (requestRule allow); null: the policy's stages decide"),
    stages: z.array(Stage).min(1).describe("The policy's stages, resolved to people when the request opened (and changed since only by reassignment); asked in order"),
    stage: z.number().int().min(0).describe('The active stage, an index into stages (from 0)'),
    votes: z.array(Vote).describe('Approvals and rejections counted, in order (postponements are not votes). A person counts once per request, whoever they act for.'),
    cardResults: z.array(CardOutcome).describe('How each card of a REQUEST_MULTIPLE_CARDS request ended, once it has; empty otherwise'),
    description: z.string().nullable(),
    attributes: z.record(z.string(), z.string()),
    requestedAt: z.number(),
    openedAt: z.number(),
    updatedAt: z.number(),
    closedAt: nullableTime,
    outcomeDecisionId: z.string().nullable(),
    lastPostponedBy: Person.nullable(),
    lastPostponedAt: nullableTime,
    dueAt: nullableTime.describe("The request's own due date (upstream's): the approval expires by then at the latest."),
    version: z.number().int(),
  }),
);

const nextCursor = z.string().nullable().describe('pass it as `cursor` (with the same sort and filters) for the next page; null on the last page');

export const SearchResult = named(
  'SearchResult',
  z.object({
    items: z.array(ApprovalRecord).max(PAGE_LIMIT.max),
    nextCursor,
    total: z.number().int().describe('every match (not only those after the cursor), counted up to 10,000'),
    totalCapped: z.boolean().describe('true when there are more than 10,000 matches'),
  }),
);

const historyEntry = z.object({
  eventId: z.string(),
  type: z.enum(APPROVAL_EVENT_TYPES).describe("VOTED: an approval or rejection counted under a policy that needs more than one vote, before any end it brings; REASSIGNED: an operator moved an approver's part to another person; PARTIALLY_APPROVED: a multi-card request ended with some cards rejected. New types may be added."),
  message: z.string().nullable().describe("The event's own explanation: a vote's progress, a delegate deciding for an approver, a reassignment, a refusal, a reminder…"),
  statusBefore: z.string().nullable(),
  statusAfter: z.string().nullable(),
  actor: Person.nullable(),
  reason: z.string().nullable(),
  occurredAt: z.string(),
});

export const RequestWithHistory = named('RequestWithHistory', z.object({ record: ApprovalRecord, history: z.array(historyEntry) }));

export const RequestHistory = named(
  'RequestHistory',
  z.object({
    history: z.array(
      historyEntry.extend({
        decision: z
          .object({
            decision: z.enum(DECISION_KINDS),
            actingAs: z.enum(ACTOR_ROLES),
            approver: Person,
            reason: z.string().nullable().describe('the reason they gave'),
            onBehalfOf: Person.nullable().describe('the listed approver a delegate decided for'),
            reassign: z.object({ from: Person, to: Person }).nullable().describe("a reassignment's two people"),
          })
          .nullable()
          .describe('Who decided what (null for an entry no decision made: opened, reminded, escalated, expired, superseded)'),
        refusalCode: z.string().nullable().describe(`Why a decision was refused (DECISION_REFUSED): ${REFUSAL_CODES.join(', ')}; a later version may add codes`),
      }),
    ),
    expiresAt: nullableTime.describe("When the request's expiry timer fires while it is pending (its policy's expiry, or its due date if sooner); null: none"),
  }),
  "A request's history with each entry's facts (who decided what, acting as what, for whom; why a decision was refused), for a reader that writes them in its own words, as the approvers' page does.",
);

export const Tasks = named('Tasks', z.object({ items: z.array(ApprovalRecord).max(PAGE_LIMIT.max), nextCursor }), 'A page may hold fewer than limit items (one call reads at most 1000 pending requests); only a null nextCursor means the end.');

export const Me = named('Me', z.object({ id: z.string(), name: z.string(), email: z.string(), roles: z.array(z.enum(ROLES)) }), 'Who the token says the caller is.');

/** The decisions the API takes in a body: an approver's, or a withdrawal (a reassignment has its own route). */
export const API_DECISIONS = DECISION_KINDS.filter((kind): kind is Exclude<(typeof DECISION_KINDS)[number], 'REASSIGNED'> => kind !== 'REASSIGNED');

const cardsInBody = z
  .array(z.strictObject({ cardIndex: z.number().int().min(0).describe("the card's position in the request's cards, from 0 (400 CARD_OUTCOMES_INVALID past the last)"), decision: z.enum(['APPROVED', 'REJECTED']), reason: freeText('reason').nullable().optional() }))
  .max(MAX_CARDS_EVER)
  .describe(
    'Per-card answers, with decision APPROVED on a REQUEST_MULTIPLE_CARDS request whose policy is one ANY stage (else 409 CARD_OUTCOMES_NOT_ALLOWED). Cards not named are approved; a rejected card needs a reason (400 REASON_REQUIRED); a card index outside the request, or named twice, is 400 CARD_OUTCOMES_INVALID. The request ends APPROVED, REJECTED (every card rejected) or PARTIALLY_APPROVED.',
  );

const decisionFields = { decision: z.enum(API_DECISIONS), reason: freeText('reason').nullable().optional(), cards: cardsInBody.optional() };

const cardsOnlyWithApproval = { error: 'cards come with decision APPROVED only', path: ['cards'] };
/** What a decision's route answers at once, with the worker's own codes, where it holds the facts. */
export const DECISION_REFUSED_AT_ONCE =
  'Refused at once, with the code the worker would give: a decision by the requester or by the holder of one of its cards (403 SELF_APPROVAL, HOLDER_APPROVAL), by someone not asked (403 NOT_AN_APPROVER), on a request that has ended or is past its expiry (409 REQUEST_CLOSED), a second vote (409 ALREADY_VOTED), per-card answers where they are not allowed (409 CARD_OUTCOMES_NOT_ALLOWED). The worker checks every rule again when the decision arrives; one refused then is a DECISION_REFUSED event.';
/** What a reassignment answers at once. */
export const REASSIGNMENT_REFUSED_AT_ONCE =
  'Refused at once, with the code the worker would give: a reassignment to the requester or to the holder of one of its cards (403 SELF_APPROVAL, HOLDER_APPROVAL), from someone with no part left (403 NOT_AN_APPROVER), one that leaves a stage unable to get its approvals (403 REASSIGNMENT_NOT_ALLOWED), of a request that has ended (409 REQUEST_CLOSED). The worker checks every rule again when it arrives.';

export const DecisionRequest = named(
  'DecisionRequest',
  z.strictObject(decisionFields).refine((b) => b.cards === undefined || b.decision === 'APPROVED', cardsOnlyWithApproval),
  "APPROVED, REJECTED (reason required) or POSTPONED by one of the request's current approvers, or by a delegate standing in for one (the vote counts for that approver; event decision.onBehalfOf). Under ALL, QUORUM or staged policies each approval or rejection is a vote (409 ALREADY_VOTED when the caller, or the approver they stand in for, has voted); a postponement is no vote. WITHDRAWN withdraws the request (it ends CANCELLED): allowed to its requester (role requester) and to operators; anyone else gets 403 WITHDRAWAL_NOT_ALLOWED. Reassignments go through POST /api/requests/{requestId}/reassign.",
);

export const BulkDecisionRequest = named(
  'BulkDecisionRequest',
  z.strictObject({ decisions: z.array(z.strictObject({ requestId: anId('requestId'), ...decisionFields }).refine((b) => b.cards === undefined || b.decision === 'APPROVED', cardsOnlyWithApproval)).min(1).max(BULK_LIMIT) }),
);

export const DecisionAccepted = named('DecisionAccepted', z.object({ decisionId: z.string(), requestId: z.string(), status: z.literal('PUBLISHED'), poll: z.string() }));

const refusedItem = z.object({ requestId: z.string().nullable(), status: z.number().int().min(400), error: z.string(), message: z.string() });

export const BulkDecisionResult = named(
  'BulkDecisionResult',
  z.object({ results: z.array(z.union([z.object({ requestId: z.string(), status: z.literal(202), decisionId: z.string(), poll: z.string() }), refusedItem])) }),
  'One result per decision sent, in order: 202 with its decisionId, or the status and error code its single call would have had.',
);

export const Reassignment = named(
  'Reassignment',
  z.strictObject({ from: anId('from').describe('the approver id whose part moves'), to: personIn('to') }),
  "Hands one approver's part in a request (in the active stage, a later one, or the escalation group) to another person. Operators only. `to` must be someone who may decide (not the requester or a holder: 403 SELF_APPROVAL, HOLDER_APPROVAL) and has not voted on the request (409 ALREADY_VOTED). Votes already cast stay as they were. The worker checks it again, with whether every stage could still get the approvals it needs (403 REASSIGNMENT_NOT_ALLOWED).",
);

export const ReassignmentResult = named(
  'ReassignmentResult',
  z.object({
    reassigned: z.array(z.string()).describe('the request ids whose reassignment was published'),
    refused: z.array(refusedItem).describe('the requests refused, with the status and code a single reassignment would have had'),
    more: z.boolean().describe(`true when more than ${REASSIGN_ALL_LIMIT} requests matched: call again`),
  }),
  `Published reassignments of up to ${REASSIGN_ALL_LIMIT} pending requests in which \`from\` has a part, oldest first; the worker applies each from the decisions topic.`,
);

export const NewDelegation = named(
  'NewDelegation',
  z.strictObject({ delegate: personIn('delegate'), startsAt: isoTime.optional(), endsAt: isoTime, approver: personIn('approver').optional() }),
  `The delegate stands in for the approver from startsAt to endsAt (ISO 8601 times; startsAt defaults to now; endsAt later than now and startsAt, at most ${DELEGATION_MAX_DAYS} days after startsAt). An approver sets one up for themselves; only an operator names another approver (\`approver\`; 403 FORBIDDEN otherwise). The delegate is someone else, and needs the approver role in their token to act.`,
);

export const Delegation = named(
  'Delegation',
  z.object({
    delegationId: z.string(),
    approver: Person,
    delegate: Person,
    startsAt: z.number(),
    endsAt: z.number(),
    createdBy: Person,
    createdAt: z.number(),
    revokedBy: Person.nullable(),
    revokedAt: nullableTime,
  }),
  'Times are epoch milliseconds. A revoked delegation is kept, with who revoked it and when.',
);
export const Delegations = named('Delegations', z.object({ items: z.array(Delegation) }), 'Delegations not yet ended (revoked ones included), newest first, at most 200: those from or to the caller; every one for an operator.');
export const RevokedDelegation = named('RevokedDelegation', Delegation.extend({ revoked: z.boolean() }), 'The delegation as it was before this call, and whether this call revoked it (false: it already was).');

/** The most parked events or timers one list answers, and one unpark call names. */
export const PARKED_LIMIT = 100;
const more = z.boolean().describe(`true when more than ${PARKED_LIMIT} are parked: unpark these (or all) and list again`);

export const ParkedEvents = named(
  'ParkedEvents',
  z.object({
    items: z
      .array(
        z.object({
          eventId: z.string(),
          requestId: z.string(),
          type: z.string().describe('the event type (OPENED, APPROVED, …)'),
          attempts: z.number().int().describe('publish attempts before it was parked'),
          parkedAt: z.string().describe('ISO 8601'),
          error: z.string().nullable().describe('why the last publish failed'),
          waitingBehind: z.number().int().describe('later events of its request, held back behind it to keep their order'),
        }),
      )
      .max(PARKED_LIMIT),
    more,
  }),
  `Events parked because they could not be published (a size limit of the topic, say), oldest first, at most ${PARKED_LIMIT}.`,
);

export const ParkedTimers = named(
  'ParkedTimers',
  z.object({
    items: z
      .array(
        z.object({
          requestId: z.string(),
          parkedAt: z.string().describe('ISO 8601'),
          attempts: z.number().int().describe('attempts to fire before it was parked'),
          error: z.string().nullable().describe('why firing failed, the last time'),
        }),
      )
      .max(PARKED_LIMIT),
    more,
  }),
  `Approvals whose timers (reminder, escalation, expiry) were parked because firing them failed on their own, oldest first, at most ${PARKED_LIMIT}.`,
);

/** An unpark call names the ids to put back, or asks for every parked one (`all`), not both. */
const unparkIds = (label: string, what: string) => z.array(anId(label)).min(1).max(PARKED_LIMIT).optional().describe(`the ${what} to put back`);
const unparkAll = z.literal(true).optional().describe('every parked one');
const eitherIdsOrAll = (label: string) => ({ error: `give ${label} or all: true, one of them` });

export const UnparkEvents = named(
  'UnparkEvents',
  z.strictObject({ eventIds: unparkIds('eventIds', 'events'), all: unparkAll }).refine((b) => (b.eventIds === undefined) !== (b.all === undefined), eitherIdsOrAll('eventIds')),
  'Puts parked events back in the queue, after the cause was fixed; they and the events behind them are then published in order.',
);
export const UnparkTimers = named(
  'UnparkTimers',
  z.strictObject({ requestIds: unparkIds('requestIds', "requests' timers"), all: unparkAll }).refine((b) => (b.requestIds === undefined) !== (b.all === undefined), eitherIdsOrAll('requestIds')),
  'Puts parked timers back, after the cause was fixed; what is due fires at the next poll.',
);
/** A person named by the id or the email address the records hold them with. */
export const PersonNamed = named(
  'PersonNamed',
  z.strictObject({ person: anId('person').describe('their id or email address (either finds every row naming them, in any case)') }),
  'Whose personal data: one person, as the records name them.',
);
const PersonIdentities = z.object({
  ids: z.array(z.string()).describe('every id they appear with, lower-cased'),
  emails: z.array(z.string()).describe('every email address they appear with, lower-cased'),
  names: z.array(z.string()).describe('every name they appear with'),
});
export const Erasure = named(
  'Erasure',
  z.object({
    pseudonym: Person.nullable().describe('who stands for them in every row now; null when nothing named them (erased before, or never here)'),
    withdrawn: z.array(z.string()).describe('pending requests withdrawn: they were its requester or a card holder, or nobody in the group could take over their part as approver'),
    reassigned: z.array(z.object({ requestId: z.string(), to: z.string().describe("the group member's id") })).describe('pending requests whose approver part of theirs went to a member of the operation\'s group'),
    rows: z.record(z.string(), z.number().int().min(1)).describe('rows rewritten, by table.column'),
    emailsDropped: z.number().int().min(0).describe('emails to them not yet sent, dropped'),
  }),
  'What an erasure changed. Run again, it finds nobody and changes nothing.',
);
const StoredRows = z.array(z.record(z.string(), z.unknown()));
export const PersonalData = named(
  'PersonalData',
  z.object({
    person: PersonIdentities,
    records: StoredRows.describe('approval records naming them (as requester, card holder, approver, voter …)'),
    decisions: StoredRows.describe('decisions naming them'),
    history: StoredRows.describe('history entries naming them'),
    delegations: StoredRows.describe('delegations from or to them'),
    emails: StoredRows.describe('emails to them, sent or waiting'),
  }),
  'Every stored row naming one person, as stored (GDPR Article 15).',
);
export const Unparked = named('Unparked', z.object({ unparked: z.number().int().min(0).describe('how many were parked and are back') }));

export const LocalSignIn = named(
  'LocalSignIn',
  z
    .strictObject({ id: z.string(), name: z.string(), email: z.string(), roles: z.array(z.enum(ROLES)).min(1) })
    .superRefine((p, ctx) => {
      for (const problem of personProblems('identity', { id: p.id.trim(), name: p.name, email: p.email, locale: null })) ctx.addIssue({ code: 'custom', message: problem, params: { code: 'INVALID_CONTENT' } });
    }),
);
export const LocalToken = named('LocalToken', z.object({ token: z.string() }));
export const SignInMethods = named('SignInMethods', z.object({ local: z.boolean(), oidc: z.boolean() }));

export const RequestPath = z.strictObject({ requestId: anId('requestId') });
export const DelegationPath = z.strictObject({ delegationId: anId('delegationId') });
export const TokenPath = z.strictObject({ token: z.string().max(4096) });

/** A query of these parameters only: any other (an old `page`, a misspelling) is refused, not ignored. */
const queryOf = <S extends z.ZodRawShape>(shape: S) =>
  z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const paging = issue.keys.some((k) => k === 'page' || k === 'pageSize') ? ' (pages go by cursor: pass the nextCursor of the previous answer, and limit)' : '';
      return `unknown parameter(s) ${issue.keys.join(', ')}; this list takes ${Object.keys(shape).join(', ')}${paging}`;
    },
  });

export const SearchQuery = queryOf({
  status: z.enum(STATUSES).optional(),
  operation: z.enum(OPERATIONS).optional(),
  approver: anId('approver').optional().describe('an approver id'),
  requester: anId('requester').optional().describe('a requester id'),
  q: anId('q')
    .refine((v) => SEARCHABLE.test(v.trim()), { error: `needs at least ${MIN_SEARCH_TEXT} characters, with a word of ${MIN_SEARCH_TEXT} letters or digits` })
    .optional()
    .describe('free text: request id, requester name, description, card ids and serial numbers'),
  sort: z.enum(SORTS).default('-opened_at').describe('by opened time, newest first (-opened_at) or oldest first; ties by request id'),
  cursor: anId('cursor').optional().describe('the nextCursor of the previous page; opaque. A cursor not given out by this API, or for another sort, is a 400 INVALID_CURSOR'),
  limit: queryInt(1, PAGE_LIMIT.max, PAGE_LIMIT.default),
});

export const TasksQuery = queryOf({ cursor: SearchQuery.shape.cursor, limit: SearchQuery.shape.limit });

/**
 * The most requests one verification call covers, and the most entries their histories may hold
 * together (fewer requests when they pass it; a request's history is always verified whole).
 */
export const AUDIT_VERIFY_LIMIT = { requests: 100, entries: 10_000 } as const;
/** The most decisions one page of the export holds. */
export const AUDIT_EXPORT_LIMIT = 1000;
/** The most heads one page holds. */
export const AUDIT_HEADS_LIMIT = 1000;

/** A cursor of the audit routes: base64url, long enough for a position after any request id. */
const auditCursor = z
  .string()
  .max(1024)
  .regex(/^[A-Za-z0-9_-]*$/, { error: 'is not a cursor this API gave out' })
  .optional()
  .describe('the nextCursor of the previous page (the same filters); opaque. One not given out by this API is a 400 INVALID_CURSOR');
const auditNextCursor = z.string().nullable().describe('pass it as `cursor` (with the same filters) for the next page; null on the last page');

const EntryRef = z.object({ seq: z.string().describe("the entry's place in the history (approval_history.seq)"), eventId: z.string() });

export const ChainProblem = named(
  'ChainProblem',
  EntryRef.extend({
    kind: z.enum(CHAIN_PROBLEMS),
    requestId: z.string(),
    detail: z.string().describe('what does not fit, in words'),
    missingHash: z.string().optional().describe('REMOVED: the hash of the entry it is chained to, which is not in the history'),
    after: EntryRef.nullable().optional().describe('REMOVED: the entry before the gap; null when the gap is at the start'),
  }),
  'An entry of a request\'s history that does not fit its chain. CHANGED: a fact, its actor or its reason is not what its hash and digests were made of. REMOVED: the entry it is chained to is missing (the gap is named, the missing entry by its hash). INSERTED: no later entry is chained to it.',
);

export const AuditVerification = named(
  'AuditVerification',
  z.object({
    requests: z.number().int().describe('requests verified by this call'),
    entries: z.number().int().describe('their history entries'),
    erasedDigests: z.number().int().describe("digests of an actor or a reason whose person's key an erasure destroyed: not checked, and no problem"),
    redacted: z.number().int().describe('entries whose reason an erasure rewrote: their reason is not checked'),
    trimmed: z.number().int().describe('requests that never came whose oldest entries retention removed'),
    problems: z.array(ChainProblem),
    nextCursor: auditNextCursor,
  }),
  `One call verifies at most ${AUDIT_VERIFY_LIMIT.requests} requests, in request id order, fewer when their histories hold more than ${AUDIT_VERIFY_LIMIT.entries} entries together; nextCursor continues.`,
);

export const AuditVerificationQuery = queryOf({
  request: anId('request').optional().describe('only this request'),
  since: isoTime.optional().describe('only requests with a history entry at or after this time (ISO 8601)'),
  cursor: auditCursor,
});

export const AuditDecision = named(
  'AuditDecision',
  z.object({
    eventId: z.string(),
    requestId: z.string(),
    operation: z.string().nullable().describe("the request's operation; null when its record is gone or it never came"),
    type: z.string().describe('the event the decision made: APPROVED, REJECTED, VOTED, POSTPONED, CANCELLED, REASSIGNED, DECISION_REFUSED …'),
    decision: z.string().nullable().describe('APPROVED, REJECTED, POSTPONED, WITHDRAWN or REASSIGNED'),
    decisionId: z.string().nullable(),
    deciderId: z.string().nullable(),
    deciderName: z.string().nullable(),
    actingAs: z.string().nullable(),
    onBehalfOfId: z.string().nullable().describe('the listed approver a delegate decided for'),
    onBehalfOfName: z.string().nullable(),
    reason: z.string().nullable().describe("the decider's own reason"),
    refusalCode: z.string().nullable().describe('set when the worker refused the decision'),
    decidedAt: z.string().nullable().describe("when the decider decided (ISO 8601, the decider's clock)"),
    occurredAt: z.string().describe('when the worker applied it (ISO 8601)'),
  }),
);

export const AuditDecisions = named('AuditDecisions', z.object({ items: z.array(AuditDecision).max(AUDIT_EXPORT_LIMIT), nextCursor: auditNextCursor }));

export const AUDIT_FORMATS = ['json', 'csv'] as const;

export const AuditDecisionsQuery = queryOf({
  since: isoTime.describe('decisions applied at or after this time (ISO 8601)'),
  format: z.enum(AUDIT_FORMATS).default('json').describe('json, or csv (RFC 4180, a header line, CRLF; the next page in the Next-Cursor header)'),
  cursor: auditCursor,
});

export const AuditHeads = named(
  'AuditHeads',
  z.object({
    date: z.string().describe('the day (UTC)'),
    items: z
      .array(z.object({ requestId: z.string(), seq: z.string(), eventId: z.string(), hash: z.string().nullable(), occurredAt: z.string().describe('ISO 8601, to the microsecond') }))
      .max(AUDIT_HEADS_LIMIT),
    nextCursor: auditNextCursor,
  }),
  "Each request with a history entry that day, with its newest entry stored by the day's end: what to publish where the database's writers cannot change it, and compare with later.",
);

export const AuditHeadsQuery = queryOf({
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'must be a day, YYYY-MM-DD' }).refine((v) => !Number.isNaN(Date.parse(`${v}T00:00:00Z`)) && new Date(`${v}T00:00:00Z`).toISOString().startsWith(v), { error: 'is no such day' }).describe('the day, UTC (YYYY-MM-DD)'),
  cursor: auditCursor,
});
