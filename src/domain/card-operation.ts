// The vocabulary of card approvals, as plain data. Timestamps are epoch milliseconds.

export const OPERATIONS = ['REQUEST_CARD', 'DEACTIVATE_CARD', 'REACTIVATE_CARD', 'LOCK_CARD', 'REQUEST_MULTIPLE_CARDS'] as const;
export type Operation = (typeof OPERATIONS)[number];

export const DECISIONS = ['APPROVED', 'REJECTED', 'POSTPONED'] as const;
export type DecisionKind = (typeof DECISIONS)[number];

export type ApprovalStatus = 'PENDING' | 'APPROVED' | 'REJECTED' | 'SUPERSEDED';

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
}

/** An approver's answer; arrives on the decisions topic. */
export interface ApprovalDecision {
  decisionId: string;
  requestId: string;
  decision: DecisionKind;
  approver: Person;
  reason: string | null;
  decidedAt: number;
}
