// Rules a message must meet before it can touch an approval. A message that breaks them can
// never succeed, so the caller dead-letters it with the reason and detail given here.
import { approversFor } from './approval-policy';
import type { ApprovalDecision, CardOperationRequest, Operation, Person } from './card-operation';
import type { InboundMessage } from './decide-batch';

export interface Limits {
  maxCardsPerRequest: number;
}

export interface AdmissionRules extends Limits {
  /** Approvers of requests that name none, per operation. */
  approverGroups: Partial<Record<Operation, Person[]>>;
}

/** A message admitted to a batch, or why it never can be. */
export type Admission = { admitted: InboundMessage } | { rejected: { reason: 'INVALID_CONTENT' | 'NO_APPROVERS'; detail: string } };

const MAX_ID = 200;
const MAX_NAME = 200;
/** The longest free text (a description, a decision's reason) in characters. */
export const MAX_TEXT = 4000;
const MAX_ATTRIBUTES = 50;
// Deliberately plain: one @, no whitespace or control characters, a dot in the domain.
const EMAIL = /^[^\s@<>()",;:\\]+@[^\s@<>()",;:\\]+\.[^\s@<>()",;:\\]+$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

function checkId(label: string, value: string, problems: string[]): void {
  if (value.trim() === '') problems.push(`${label} is blank`);
  else if (value.length > MAX_ID) problems.push(`${label} is longer than ${MAX_ID} characters`);
  else if (CONTROL.test(value)) problems.push(`${label} contains control characters`);
}

function checkPerson(label: string, person: Person, problems: string[]): void {
  checkId(`${label}.id`, person.id, problems);
  if (person.name.trim() === '') problems.push(`${label}.name is blank`);
  if (person.name.length > MAX_NAME) problems.push(`${label}.name is longer than ${MAX_NAME} characters`);
  if (person.email.length > 254 || !EMAIL.test(person.email)) problems.push(`${label}.email ${JSON.stringify(person.email.slice(0, 80))} is not a valid address`);
}

/** Problems with a request read from `topicOperation`'s topic; empty when it is valid. */
export function requestProblems(request: CardOperationRequest, topicOperation: Operation, limits: Limits): string[] {
  const problems: string[] = [];
  checkId('requestId', request.requestId, problems);
  if (request.operation !== topicOperation) {
    problems.push(`operation ${request.operation} arrived on the ${topicOperation} topic`);
  }
  checkPerson('requester', request.requester, problems);
  const cardCount = request.cards.length;
  if (request.operation === 'REQUEST_MULTIPLE_CARDS') {
    if (cardCount < 1 || cardCount > limits.maxCardsPerRequest) {
      problems.push(`REQUEST_MULTIPLE_CARDS needs 1 to ${limits.maxCardsPerRequest} cards, got ${cardCount}`);
    }
  } else if (cardCount !== 1) {
    problems.push(`${request.operation} needs exactly one card, got ${cardCount}`);
  }
  request.cards.slice(0, limits.maxCardsPerRequest).forEach((card, i) => {
    if (card.cardType.trim() === '' || card.cardType.length > MAX_NAME) problems.push(`cards[${i}].cardType must be 1 to ${MAX_NAME} characters`);
    checkPerson(`cards[${i}].holder`, card.holder, problems);
  });
  request.approvers.forEach((approver, i) => checkPerson(`approvers[${i}]`, approver, problems));
  if (request.approvers.length > 100) problems.push('more than 100 approvers');
  if ((request.description ?? '').length > MAX_TEXT) problems.push(`description is longer than ${MAX_TEXT} characters`);
  if (Object.keys(request.attributes).length > MAX_ATTRIBUTES) problems.push(`more than ${MAX_ATTRIBUTES} attributes`);
  return problems;
}

export function decisionProblems(decision: ApprovalDecision): string[] {
  const problems: string[] = [];
  checkId('decisionId', decision.decisionId, problems);
  checkId('requestId', decision.requestId, problems);
  checkPerson('approver', decision.approver, problems);
  if ((decision.reason ?? '').length > MAX_TEXT) problems.push(`reason is longer than ${MAX_TEXT} characters`);
  return problems;
}

/** A request read from `topicOperation`'s topic, with the approvers who will be asked. */
export function admitRequest(request: CardOperationRequest, topicOperation: Operation, rules: AdmissionRules): Admission {
  const problems = requestProblems(request, topicOperation, rules);
  if (problems.length > 0) return { rejected: { reason: 'INVALID_CONTENT', detail: problems.join('; ') } };
  const approvers = approversFor(request, rules.approverGroups);
  if (approvers.length === 0) {
    return { rejected: { reason: 'NO_APPROVERS', detail: `request names no approvers and no approver group is configured for ${topicOperation}` } };
  }
  return { admitted: { kind: 'request', request, approvers } };
}

export function admitDecision(decision: ApprovalDecision): Admission {
  const problems = decisionProblems(decision);
  return problems.length > 0 ? { rejected: { reason: 'INVALID_CONTENT', detail: problems.join('; ') } } : { admitted: { kind: 'decision', decision } };
}
