// Test data for the tests, the demo, the fault runs and the benchmark: unique ids and addresses
// by default, so tests never share records or inboxes; every field can be fixed by an override.
import { randomUUID } from 'node:crypto';
import type { ApprovalDecision, Card, CardOperationRequest, DecisionKind, Operation, Person } from '../../src/domain/card-operation';

export function aPerson(role: string, overrides: Partial<Person> = {}): Person {
  const id = overrides.id ?? `${role}-${randomUUID().slice(0, 12)}`;
  return { id, name: `${role[0]!.toUpperCase()}${role.slice(1)} ${id.slice(-4)}`, email: `${id}@example.com`, locale: null, ...overrides };
}

export function aCard(holder: Person = aPerson('holder'), overrides: Partial<Card> = {}): Card {
  return {
    cardId: `card-${randomUUID().slice(0, 8)}`,
    cardType: 'EMPLOYEE_BADGE',
    serialNumber: `SN-${randomUUID().slice(0, 6)}`,
    holder,
    status: 'ACTIVE',
    validTo: Date.UTC(2028, 0, 31),
    ...overrides,
  };
}

export function aRequest(operation: Operation = 'LOCK_CARD', overrides: Partial<CardOperationRequest> = {}): CardOperationRequest {
  const cards = operation === 'REQUEST_MULTIPLE_CARDS' ? [aCard(), aCard(), aCard()] : [aCard()];
  return {
    requestId: `req-${randomUUID()}`,
    operation,
    requestedAt: Date.now(),
    requester: aPerson('requester'),
    cards,
    description: `Please ${operation.toLowerCase().replace(/_/g, ' ')}`,
    approvers: [aPerson('approver'), aPerson('approver')],
    attributes: { source: 'test' },
    dueAt: null,
    approvalRule: null,
    ...overrides,
  };
}

export function aDecision(request: CardOperationRequest, decision: DecisionKind, overrides: Partial<ApprovalDecision> = {}): ApprovalDecision {
  return {
    decisionId: `dec-${randomUUID()}`,
    requestId: request.requestId,
    decision,
    approver: request.approvers[0]!,
    reason: decision === 'REJECTED' ? 'Card holder left the company' : null,
    decidedAt: Date.now(),
    actingAs: 'APPROVER',
    cardOutcomes: [],
    reassign: null,
    ...overrides,
  };
}

/**
 * The fault runs' and the benchmark's mix of outcomes, by position: 80% approved, 15% rejected,
 * 5% postponed then approved (the postponement and the approval by different approvers). Under a
 * policy that needs two approvals (`votes` 2), the second approver approves as well, or rejects,
 * and the postponer approves after the other's approval.
 */
export function decisionsFor(request: CardOperationRequest, index: number, reason = 'not this time', votes: 1 | 2 = 1): ApprovalDecision[] {
  const decide = (decision: DecisionKind, n: number, by = n): ApprovalDecision =>
    aDecision(request, decision, { decisionId: `${request.requestId}-d${n}`, approver: request.approvers[by % request.approvers.length]!, reason: decision === 'REJECTED' ? reason : null });
  const roll = index % 20;
  if (votes === 1) return roll < 16 ? [decide('APPROVED', 0)] : roll < 19 ? [decide('REJECTED', 0)] : [decide('POSTPONED', 0), decide('APPROVED', 1)];
  return roll < 16 ? [decide('APPROVED', 0), decide('APPROVED', 1)] : roll < 19 ? [decide('APPROVED', 0), decide('REJECTED', 1)] : [decide('POSTPONED', 0), decide('APPROVED', 1), decide('APPROVED', 2, 0)];
}
