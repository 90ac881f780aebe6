// Test data with unique ids and addresses, so tests never share records or inboxes.
import { randomUUID } from 'node:crypto';
import type { ApprovalDecision, Card, CardOperationRequest, DecisionKind, Operation, Person } from '../../src/domain/card-operation';

export function aPerson(role: string): Person {
  const id = `${role}-${randomUUID().slice(0, 12)}`;
  return { id, name: `${role[0]!.toUpperCase()}${role.slice(1)} ${id.slice(-4)}`, email: `${id}@example.com`, locale: null };
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
    ...overrides,
  };
}
