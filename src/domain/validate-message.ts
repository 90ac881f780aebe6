// Rules a message must meet before it can touch an approval. A message that breaks them can
// never succeed, so the caller dead-letters it with the reason and detail given here.
import { approversFor, eligibleApprovers, samePerson, type ApprovalPolicy, type StagePolicy } from './approval-policy';
import { resolveStages } from './approval-votes';
import { ACTOR_ROLES, DECISION_KINDS, VOTE_MODES, takesManyCards, type ApprovalDecision, type Card, type CardOperationRequest, type Operation, type Person, type VoteRule } from './card-operation';
import type { InboundMessage } from './decide-batch';

export interface Limits {
  maxCardsPerRequest: number;
}

export interface AdmissionRules extends Limits {
  /** Approvers of requests that name none, per operation. */
  approverGroups: Partial<Record<Operation, Person[]>>;
  approvalPolicies: Record<Operation, ApprovalPolicy>;
}

/** A message admitted to a batch, or why it never can be. */
export type Admission = { admitted: InboundMessage } | { rejected: { reason: 'INVALID_CONTENT' | 'NO_APPROVERS' | 'NO_ELIGIBLE_APPROVERS'; detail: string } };

const MAX_ID = 200;
const MAX_NAME = 200;
/** The longest free text (a description, a decision's reason) in characters. */
export const MAX_TEXT = 4000;
const MAX_ATTRIBUTES = 50;
/**
 * Every timestamp (epoch milliseconds) lies in years 1970 to 9999: what Postgres, JavaScript
 * dates and the email templates can all hold and show. A timestamp in microseconds or seconds by
 * mistake falls outside it.
 */
export const TIMESTAMP_RANGE = { min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) };
// Deliberately plain: one @, no whitespace or control characters, a dot in the domain.
const EMAIL = /^[^\s@<>()",;:\\]+@[^\s@<>()",;:\\]+\.[^\s@<>()",;:\\]+$/;

/**
 * Characters no string may hold: NUL (Postgres cannot store it), C0 and C1 controls and DEL, and
 * unpaired UTF-16 surrogates (not text at all). Free text may hold TAB, LF, CR and the Unicode
 * line and paragraph separators (U+2028, U+2029), which are line breaks; single-line fields (ids,
 * names, email addresses, card fields, attributes) may not.
 */
const FORBIDDEN_IN_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const FORBIDDEN_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const describeChar = (value: string, pattern: RegExp): string => {
  const found = pattern.exec(value)?.[0] ?? '';
  return `U+${(found.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
};

/** A single-line string: an id, a name, a card field, an attribute. */
function checkLine(label: string, value: string, max: number, problems: string[], { blank = false } = {}): void {
  if (!blank && value.trim() === '') problems.push(`${label} is blank`);
  else if (value.length > max) problems.push(`${label} is longer than ${max} characters`);
  else if (FORBIDDEN_IN_LINE.test(value)) problems.push(`${label} contains a control or invalid character (${describeChar(value, FORBIDDEN_IN_LINE)})`);
}

/** Free text: a description, a decision's reason. */
export function textProblem(label: string, value: string | null): string | undefined {
  if (value === null) return undefined;
  if (value.length > MAX_TEXT) return `${label} is longer than ${MAX_TEXT} characters`;
  if (FORBIDDEN_IN_TEXT.test(value)) return `${label} contains a control or invalid character (${describeChar(value, FORBIDDEN_IN_TEXT)})`;
  return undefined;
}

function checkText(label: string, value: string | null, problems: string[]): void {
  const problem = textProblem(label, value);
  if (problem) problems.push(problem);
}

function checkTimestamp(label: string, value: number | null, problems: string[]): void {
  if (value === null) return;
  if (!Number.isSafeInteger(value) || value < TIMESTAMP_RANGE.min || value > TIMESTAMP_RANGE.max) {
    problems.push(`${label} ${value} is not a time in milliseconds between 1970 and 9999`);
  }
}

function checkId(label: string, value: string, problems: string[]): void {
  checkLine(label, value, MAX_ID, problems);
}

/** What is wrong with an id (a request's, a person's), or undefined: the rule above, for one value. */
export function idProblem(label: string, value: string): string | undefined {
  const problems: string[] = [];
  checkId(label, value, problems);
  return problems[0];
}

/** What is wrong with a one-line name (a configured stage's, say), or undefined: the rule for names in messages. */
export function nameProblem(label: string, value: string): string | undefined {
  const problems: string[] = [];
  checkLine(label, value, MAX_NAME, problems);
  return problems[0];
}

/** What is wrong with a person (configured or sent), or nothing: the rule the consumer applies, for one person. */
export function personProblems(label: string, person: Person): string[] {
  const problems: string[] = [];
  checkPerson(label, person, problems);
  return problems;
}

/** Whether `value` is an email address by the rule people's addresses follow (a configured Reply-To, say). */
export function isEmailAddress(value: string): boolean {
  return value.length <= 254 && EMAIL.test(value) && !FORBIDDEN_IN_LINE.test(value);
}

function checkPerson(label: string, person: Person, problems: string[]): void {
  checkId(`${label}.id`, person.id, problems);
  checkLine(`${label}.name`, person.name, MAX_NAME, problems);
  if (!isEmailAddress(person.email)) {
    problems.push(`${label}.email ${JSON.stringify(person.email.slice(0, 80))} is not a valid address`);
  }
  if (person.locale !== null) checkLine(`${label}.locale`, person.locale, 35, problems);
}

function checkCard(label: string, card: Card, problems: string[]): void {
  if (card.cardId !== null) checkId(`${label}.cardId`, card.cardId, problems);
  checkLine(`${label}.cardType`, card.cardType, MAX_NAME, problems);
  if (card.serialNumber !== null) checkLine(`${label}.serialNumber`, card.serialNumber, MAX_ID, problems, { blank: true });
  if (card.status !== null) checkLine(`${label}.status`, card.status, MAX_NAME, problems, { blank: true });
  checkPerson(`${label}.holder`, card.holder, problems);
  checkTimestamp(`${label}.validTo`, card.validTo, problems);
}

/** Problems with a request read from `topicOperation`'s topic; empty when it is valid. */
export function requestProblems(request: CardOperationRequest, topicOperation: Operation, limits: Limits): string[] {
  const problems: string[] = [];
  checkId('requestId', request.requestId, problems);
  if (request.operation !== topicOperation) {
    problems.push(`operation ${request.operation} arrived on the ${topicOperation} topic`);
  }
  checkTimestamp('requestedAt', request.requestedAt, problems);
  checkTimestamp('dueAt', request.dueAt, problems);
  checkPerson('requester', request.requester, problems);
  const cardCount = request.cards.length;
  if (takesManyCards(request.operation)) {
    if (cardCount < 1 || cardCount > limits.maxCardsPerRequest) {
      problems.push(`${request.operation} needs 1 to ${limits.maxCardsPerRequest} cards, got ${cardCount}`);
    }
  } else if (cardCount !== 1) {
    problems.push(`${request.operation} needs exactly one card, got ${cardCount}`);
  }
  request.cards.slice(0, limits.maxCardsPerRequest).forEach((card, i) => checkCard(`cards[${i}]`, card, problems));
  request.approvers.slice(0, 100).forEach((approver, i) => checkPerson(`approvers[${i}]`, approver, problems));
  if (request.approvers.length > 100) problems.push('more than 100 approvers');
  checkText('description', request.description, problems);
  if (request.approvalRule) problems.push(...ruleProblems('approvalRule', request.approvalRule));
  const attributes = Object.entries(request.attributes);
  if (attributes.length > MAX_ATTRIBUTES) problems.push(`more than ${MAX_ATTRIBUTES} attributes`);
  for (const [key, value] of attributes.slice(0, MAX_ATTRIBUTES)) {
    checkLine(`attribute key ${JSON.stringify(key.slice(0, 40))}`, key, MAX_ID, problems);
    checkLine(`attributes[${JSON.stringify(key.slice(0, 40))}]`, value, MAX_NAME, problems, { blank: true });
  }
  return problems;
}

export function decisionProblems(decision: ApprovalDecision): string[] {
  const problems: string[] = [];
  checkId('decisionId', decision.decisionId, problems);
  checkId('requestId', decision.requestId, problems);
  // A kind or role added to the contract after our schema reads as its enum's default, UNKNOWN.
  if (!(DECISION_KINDS as readonly string[]).includes(decision.decision)) problems.push(`decision ${decision.decision} is not one this worker knows`);
  if (!(ACTOR_ROLES as readonly string[]).includes(decision.actingAs)) problems.push(`actingAs ${decision.actingAs} is not a role this worker knows`);
  checkPerson('approver', decision.approver, problems);
  checkText('reason', decision.reason, problems);
  checkTimestamp('decidedAt', decision.decidedAt, problems);
  if ((decision.decision === 'REASSIGNED') !== (decision.reassign !== null)) problems.push('reassign is given with REASSIGNED, and only with it');
  if (decision.reassign) {
    checkPerson('reassign.from', decision.reassign.from, problems);
    checkPerson('reassign.to', decision.reassign.to, problems);
  }
  if (decision.cardOutcomes.length > 0 && decision.decision !== 'APPROVED') problems.push('cardOutcomes come with an APPROVED decision only');
  if (decision.cardOutcomes.length > MAX_CARDS_EVER) problems.push(`more than ${MAX_CARDS_EVER} card outcomes`);
  decision.cardOutcomes.slice(0, MAX_CARDS_EVER).forEach((o, i) => {
    if (o.outcome !== 'APPROVED' && o.outcome !== 'REJECTED') problems.push(`cardOutcomes[${i}].outcome ${o.outcome} is not one this worker knows`);
    checkText(`cardOutcomes[${i}].reason`, o.reason, problems);
  });
  return problems;
}

/** The most cards any request may hold (MAX_CARDS_PER_REQUEST is configured below it). */
export const MAX_CARDS_EVER = 10_000;
/** The largest quorum a rule may ask for: a request names at most 100 approvers. */
export const MAX_QUORUM = 100;

/** What is wrong with a vote rule (a request's own, or a configured one). */
export function ruleProblems(label: string, rule: VoteRule): string[] {
  if (!(VOTE_MODES as readonly string[]).includes(rule.mode)) return [`${label}.mode ${rule.mode} is not one this worker knows`];
  if (rule.mode === 'QUORUM' && (rule.quorum === null || !Number.isInteger(rule.quorum) || rule.quorum < 1 || rule.quorum > MAX_QUORUM)) {
    return [`${label}: QUORUM needs a quorum from 1 to ${MAX_QUORUM}`];
  }
  if (rule.mode !== 'QUORUM' && rule.quorum !== null) return [`${label}: only QUORUM takes a quorum`];
  return [];
}

/** What is wrong with people an operator names (a group, a stage, an escalation): each held to a message's rules, each once. */
export function peopleProblems(label: string, people: Person[]): string[] {
  const found = people.flatMap((p, i) => personProblems(`${label}[${i}]`, p));
  // One person under two ids (or one id in two cases) is still one person.
  const repeated = people.find((p, i) => people.findIndex((q) => samePerson(p, q)) !== i);
  if (repeated) found.push(`${label} names ${JSON.stringify(repeated.id)} more than once`);
  return found;
}

/**
 * What is wrong with a policy's stages: names and rules, people, a quorum more than the stage
 * names, and anyone asked in two stages. A person approves in one stage only: the request's
 * approvers in two stages, or one person named in two, would leave the later stage waiting for
 * someone who has already voted.
 */
export function stagePolicyProblems(label: string, stages: StagePolicy[]): string[] {
  const found = stages.flatMap((stage, i) => {
    const at = `${label}[${i}]`;
    const own = [nameProblem(`${at}.name`, stage.name), ...ruleProblems(`${at}.rule`, stage.rule)].filter((p): p is string => p !== undefined);
    if (stage.approvers === 'request') return own;
    own.push(...peopleProblems(`${at}.approvers`, stage.approvers));
    if (stage.rule.mode === 'QUORUM' && stage.approvers.length < stage.rule.quorum!) own.push(`${at} needs ${stage.rule.quorum} approvals but names ${stage.approvers.length} approver(s)`);
    return own;
  });
  if (stages.filter((s) => s.approvers === 'request').length > 1) found.push(`${label} takes the request's approvers in more than one stage; a person approves in one stage only`);
  const named = stages.flatMap((s, i) => (s.approvers === 'request' ? [] : s.approvers.map((p) => ({ p, i }))));
  const twice = named.find(({ p, i }) => named.some((o) => o.i !== i && samePerson(o.p, p)));
  if (twice) found.push(`${label} names ${JSON.stringify(twice.p.id)} in more than one stage; a person approves in one stage only`);
  return found;
}

/** A request read from `topicOperation`'s topic, with the approvers who will be asked. */
export function admitRequest(request: CardOperationRequest, topicOperation: Operation, rules: AdmissionRules): Admission {
  const problems = requestProblems(request, topicOperation, rules);
  if (problems.length > 0) return { rejected: { reason: 'INVALID_CONTENT', detail: problems.join('; ') } };
  const policy = rules.approvalPolicies[topicOperation];
  const { approvers } = approversFor(request, rules.approverGroups, policy);
  // The request's approvers (or the group) are needed by a `request` stage, or by the request's own rule.
  if (request.approvalRule !== null || policy.stages.some((s) => s.approvers === 'request')) {
    if (approvers.length === 0) {
      const named = policy.fromRequest === 'deny' ? `${topicOperation} takes only its configured group, and none is configured` : `request names no approvers and no approver group is configured for ${topicOperation}`;
      return { rejected: { reason: 'NO_APPROVERS', detail: named } };
    }
    if (eligibleApprovers(request, approvers).length === 0) {
      return { rejected: { reason: 'NO_ELIGIBLE_APPROVERS', detail: 'every approver is the requester or a holder of one of the cards, so nobody could ever decide' } };
    }
  }
  const resolved = resolveStages(request, approvers, policy);
  if ('problem' in resolved) return { rejected: { reason: request.approvalRule && policy.requestRule === 'deny' ? 'INVALID_CONTENT' : 'NO_ELIGIBLE_APPROVERS', detail: resolved.problem } };
  return { admitted: { kind: 'request', request, stages: resolved.stages } };
}

export function admitDecision(decision: ApprovalDecision): Admission {
  const problems = decisionProblems(decision);
  return problems.length > 0 ? { rejected: { reason: 'INVALID_CONTENT', detail: problems.join('; ') } } : { admitted: { kind: 'decision', decision } };
}
