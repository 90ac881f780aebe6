// The vocabulary of card approvals, as plain data. Timestamps are epoch milliseconds.

export const OPERATIONS = ['REQUEST_CARD', 'DEACTIVATE_CARD', 'REACTIVATE_CARD', 'LOCK_CARD', 'REQUEST_MULTIPLE_CARDS'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** What an approver decides. */
export const DECISIONS = ['APPROVED', 'REJECTED', 'POSTPONED'] as const;
/** Every kind on the decisions topic: an approver's decision, or the request's withdrawal. */
export const DECISION_KINDS = [...DECISIONS, 'WITHDRAWN'] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

/** In what capacity a decision's person acts: only the requester, an operator or upstream may withdraw. */
export const ACTOR_ROLES = ['APPROVER', 'REQUESTER', 'OPERATOR', 'UPSTREAM'] as const;
export type ActorRole = (typeof ACTOR_ROLES)[number];

export const STATUSES = ['PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'CANCELLED', 'SUPERSEDED'] as const;
export type ApprovalStatus = (typeof STATUSES)[number];

export interface Person {
  id: string;
  name: string;
  email: string;
  locale: string | null;
}

export interface Card {
  cardId: string | null;
  cardType: string;
  serialNumber: string | null;
  holder: Person;
  status: string | null;
  validTo: number | null;
}

/** What an upstream card system asks for; arrives on the operation's request topic. */
export interface CardOperationRequest {
  requestId: string;
  operation: Operation;
  requestedAt: number;
  requester: Person;
  cards: Card[];
  description: string | null;
  approvers: Person[];
  attributes: Record<string, string>;
  /** When the requester needs an answer by: brings expiry forward, never later than policy. */
  dueAt: number | null;
}

/** An approver's answer; arrives on the decisions topic. */
export interface ApprovalDecision {
  decisionId: string;
  requestId: string;
  decision: DecisionKind;
  approver: Person;
  reason: string | null;
  decidedAt: number;
  actingAs: ActorRole;
}
