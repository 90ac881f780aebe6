// The approval record, its events and the emails they cause, as plain data.
import { hash } from 'node:crypto';
import type { Stage, Vote, VoteProgress } from './approval-votes';
import type { ApprovalDecision, ApprovalStatus, Card, CardOutcome, Operation, Person, Reassignment, VoteRule } from './card-operation';

export interface ApprovalRecord {
  requestId: string;
  operation: Operation;
  status: ApprovalStatus;
  requester: Person;
  cards: Card[];
  /** Who is asked now: the active stage's approvers, then any who joined by escalation. */
  approvers: Person[];
  /** The approvers the request named, as it named them (null for records older than this field): a redelivery must match. */
  requestedApprovers: Person[] | null;
  /** The rule the request asked for, as it asked (a redelivery must match). */
  approvalRule: VoteRule | null;
  /** The policy's stages, resolved to people when the request opened. */
  stages: Stage[];
  /** The active stage, from 0. */
  stage: number;
  /** Approvals and rejections cast, in order. */
  votes: Vote[];
  /** How each card of a REQUEST_MULTIPLE_CARDS request ended, once it has. */
  cardResults: CardOutcome[];
  /** Those of `approvers` who joined by escalation (not part of the request as upstream sent it). */
  escalatedTo: Person[];
  description: string | null;
  attributes: Record<string, string>;
  requestedAt: number;
  openedAt: number;
  updatedAt: number;
  closedAt: number | null;
  outcomeDecisionId: string | null;
  lastPostponedBy: Person | null;
  lastPostponedAt: number | null;
  /** The request's own due date (upstream's), which can bring expiry forward. */
  dueAt: number | null;
  version: number;
}

export const REFUSAL_CODES = [
  'NOT_AN_APPROVER',
  'SELF_APPROVAL',
  'HOLDER_APPROVAL',
  'REASON_REQUIRED',
  'REQUEST_CLOSED',
  'UNKNOWN_REQUEST',
  'WITHDRAWAL_NOT_ALLOWED',
  'ALREADY_VOTED',
  'REASSIGNMENT_NOT_ALLOWED',
  'CARD_OUTCOMES_NOT_ALLOWED',
  'CARD_OUTCOMES_INVALID',
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

export const APPROVAL_EVENT_TYPES = ['OPENED', 'POSTPONED', 'APPROVED', 'REJECTED', 'DECISION_REFUSED', 'REMINDED', 'ESCALATED', 'EXPIRED', 'CANCELLED', 'SUPERSEDED', 'VOTED', 'REASSIGNED', 'PARTIALLY_APPROVED'] as const;
export type ApprovalEventType = (typeof APPROVAL_EVENT_TYPES)[number];

/** The decision an event carries: the decision's own fields, and for whom a delegate decided. */
export interface DecisionDetails extends Pick<ApprovalDecision, 'decisionId' | 'decision' | 'approver' | 'reason' | 'decidedAt' | 'actingAs'> {
  /** The listed approver a delegate decided for. */
  onBehalfOf: Person | null;
  reassign: Reassignment | null;
}

/** Shape of the events topic (schemas/approval-event.avsc). */
export interface ApprovalEvent {
  eventId: string;
  type: ApprovalEventType;
  requestId: string;
  operation: Operation | null;
  status: ApprovalStatus | null;
  occurredAt: number;
  requester: Person | null;
  cards: Card[];
  description: string | null;
  approvers: Person[];
  /** When the requester asked (null only for a request never seen). */
  requestedAt: number | null;
  dueAt: number | null;
  decision: DecisionDetails | null;
  refusalCode: RefusalCode | null;
  message: string | null;
  /** Where the votes stand after the event, for events of a pending request or a decision. */
  progress: VoteProgress | null;
  /** How each card ended (REQUEST_MULTIPLE_CARDS, once decided). */
  cardResults: CardOutcome[];
}

export const EMAIL_TEMPLATES = [
  'approval-requested',
  'approval-reminder',
  'approval-escalated',
  'request-approved',
  'request-rejected',
  'request-partially-approved',
  'request-expired',
  'request-withdrawn',
  'request-superseded',
] as const;
export type EmailTemplate = (typeof EMAIL_TEMPLATES)[number];

export interface EmailToSend {
  eventId: string;
  recipient: Person;
  template: EmailTemplate;
  /** Deterministic per (event, recipient), so a resend is recognisably the same email. */
  messageId: string;
}

/** A history line: who changed what, when and why. Stored with the event it produced. */
export interface Transition {
  event: ApprovalEvent;
  statusBefore: ApprovalStatus | null;
  actor: Person | null;
  reason: string | null;
}

function stableUuid(...parts: string[]): string {
  // crypto.hash: one call, without the Hash object createHash builds (ids are made by the thousand per batch).
  const hex = hash('sha256', parts.join('\u0000'), 'hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Event ids derive from what caused the event, so reprocessing yields the same id. */
export const eventIdFor = {
  opened: (requestId: string): string => stableUuid('opened', requestId),
  decision: (decision: Pick<ApprovalDecision, 'decisionId'>): string => stableUuid('decision', decision.decisionId),
  /** The end a vote brought about, when it is a separate event from the vote (policies needing more than one vote). */
  outcome: (decision: Pick<ApprovalDecision, 'decisionId'>): string => stableUuid('outcome', decision.decisionId),
  /** A request is superseded, escalated or expired at most once. */
  superseded: (requestId: string): string => stableUuid('superseded', requestId),
  escalated: (requestId: string): string => stableUuid('escalated', requestId),
  expired: (requestId: string): string => stableUuid('expired', requestId),
  /** The request's nth reminder. */
  reminded: (requestId: string, nth: number): string => stableUuid('reminded', requestId, String(nth)),
};

export function messageIdFor(eventId: string, recipientEmail: string, domain: string): string {
  return `<${stableUuid('email', eventId, recipientEmail.toLowerCase())}@${domain}>`;
}

/** One email per recipient address (people listed twice get one), all built from the same event. */
export function emailsTo(eventId: string, recipients: Person[], template: EmailTemplate, messageIdDomain: string): EmailToSend[] {
  return [...new Map(recipients.map((p) => [p.email.toLowerCase(), p])).values()].map((recipient) => ({
    eventId,
    recipient,
    template,
    messageId: messageIdFor(eventId, recipient.email, messageIdDomain),
  }));
}

export function decisionDetails(decision: ApprovalDecision, onBehalfOf: Person | null = null): DecisionDetails {
  return {
    decisionId: decision.decisionId,
    decision: decision.decision,
    approver: decision.approver,
    reason: decision.reason,
    decidedAt: decision.decidedAt,
    actingAs: decision.actingAs,
    onBehalfOf,
    reassign: decision.reassign,
  };
}

type EventExtra = Pick<ApprovalEvent, 'decision' | 'refusalCode' | 'message' | 'progress'>;

/** The event for a state change, carrying the request's blocks as they are after the change. */
export function eventFrom(
  record: ApprovalRecord,
  eventId: string,
  type: ApprovalEventType,
  occurredAt: number,
  extra: Partial<EventExtra> = {},
): ApprovalEvent {
  return {
    eventId,
    type,
    requestId: record.requestId,
    operation: record.operation,
    status: record.status,
    occurredAt,
    requester: record.requester,
    cards: record.cards,
    description: record.description,
    approvers: record.approvers,
    requestedAt: record.requestedAt,
    dueAt: record.dueAt,
    decision: null,
    refusalCode: null,
    message: null,
    progress: null,
    cardResults: record.cardResults,
    ...extra,
  };
}
