// The vocabulary of card approvals, as plain data. Timestamps are epoch milliseconds.

/**
 * Each card operation's facts, stated once; everything else derives from this table (the topic
 * names, the AsyncAPI channels, how many cards a request carries, per-card decisions, the default
 * card-conflict policy). A new operation is a row here, a symbol in the Avro schemas' operation
 * enum, and its label in each templates/locales file.
 * - `topic`: the suffix of its request topic (after TOPIC_PREFIX, `card-operations.`);
 * - `channel`: its channel's name in the AsyncAPI document;
 * - `manyCards`: a request carries 1 to MAX_CARDS_PER_REQUEST cards, each decided on its own
 *   (per-card outcomes); otherwise exactly one card;
 * - `onConflict`: what a second request for a card with a pending approval does by default
 *   (refuse: the duplicate is the mistake; supersede: the newest intention is the one to run).
 */
export const OPERATION_FACTS = {
  REQUEST_CARD: { topic: 'request-card', channel: 'requestCard', manyCards: false, onConflict: 'refuse' },
  DEACTIVATE_CARD: { topic: 'deactivate-card', channel: 'deactivateCard', manyCards: false, onConflict: 'supersede' },
  REACTIVATE_CARD: { topic: 'reactivate-card', channel: 'reactivateCard', manyCards: false, onConflict: 'supersede' },
  LOCK_CARD: { topic: 'lock-card', channel: 'lockCard', manyCards: false, onConflict: 'refuse' },
  REQUEST_MULTIPLE_CARDS: { topic: 'request-multiple-cards', channel: 'requestMultipleCards', manyCards: true, onConflict: 'refuse' },
} as const satisfies Record<string, { topic: string; channel: string; manyCards: boolean; onConflict: 'refuse' | 'supersede' }>;
export type Operation = keyof typeof OPERATION_FACTS;
export const OPERATIONS = Object.keys(OPERATION_FACTS) as [Operation, ...Operation[]];
/** Whether a request of this operation carries several cards, each decided on its own. */
export const takesManyCards = (operation: Operation): boolean => OPERATION_FACTS[operation].manyCards;

/** What an approver decides. */
export const DECISIONS = ['APPROVED', 'REJECTED', 'POSTPONED'] as const;
/** Every kind on the decisions topic: an approver's decision, the request's withdrawal, or an operator's reassignment. */
export const DECISION_KINDS = [...DECISIONS, 'WITHDRAWN', 'REASSIGNED'] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

/** In what capacity a decision's person acts: only the requester, an operator or upstream may withdraw. */
export const ACTOR_ROLES = ['APPROVER', 'REQUESTER', 'OPERATOR', 'UPSTREAM'] as const;
export type ActorRole = (typeof ACTOR_ROLES)[number];

export const STATUSES = ['PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'CANCELLED', 'SUPERSEDED', 'PARTIALLY_APPROVED'] as const;
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

/**
 * How many approvals a stage needs: the first (ANY), one from every eligible approver of the stage
 * (ALL), or `quorum` of them (QUORUM).
 */
export const VOTE_MODES = ['ANY', 'ALL', 'QUORUM'] as const;
export interface VoteRule {
  mode: (typeof VOTE_MODES)[number];
  /** Set for QUORUM only. */
  quorum: number | null;
}

/** An approver's answer for one card of a multi-card request: approved, or rejected with a reason. */
export interface CardOutcome {
  /** The card's position in the request's `cards`, from 0. */
  cardIndex: number;
  outcome: 'APPROVED' | 'REJECTED';
  reason: string | null;
}

/** An operator moves one approver's part in a request to another person. */
export interface Reassignment {
  from: Person;
  to: Person;
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
  /** The request's own approval rule over its approvers, where its operation's policy allows one. */
  approvalRule: VoteRule | null;
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
  /** Per-card answers (REQUEST_MULTIPLE_CARDS under ANY, with APPROVED): cards not named are approved. */
  cardOutcomes: CardOutcome[];
  /** Set for REASSIGNED only. */
  reassign: Reassignment | null;
}
