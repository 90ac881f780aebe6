// The use case for one batch of valid messages: fold them, in order, over the current state of
// the approvals they touch, and return every change to persist in one transaction. Pure: the
// caller loads the state and writes the changes.
import type { ApprovalRecord, EmailToSend, RefusalCode, Transition } from './approval';
import { applyDecision } from './apply-decision';
import type { ApprovalDecision, CardOperationRequest, Person } from './card-operation';
import { openApproval } from './open-approval';

export type InboundMessage =
  | { kind: 'request'; request: CardOperationRequest; approvers: Person[] }
  | { kind: 'decision'; decision: ApprovalDecision };

export interface BatchState {
  /** Existing records of the requests the batch mentions. */
  records: Map<string, ApprovalRecord>;
  /** Decisions already stored (any outcome): a redelivery of one has no effect. */
  knownDecisionIds: Set<string>;
  /** Decisions that arrived before their request, by requestId, oldest first. */
  awaiting: Map<string, ApprovalDecision[]>;
}

export type DecisionResolution = 'APPLIED' | 'REFUSED' | 'AWAITING_REQUEST';

export interface DecisionRow {
  decision: ApprovalDecision;
  outcome: DecisionResolution;
  refusalCode: RefusalCode | null;
  /** True when the row exists already (it was awaiting its request) and is being resolved. */
  wasAwaiting: boolean;
}

export interface BatchChanges {
  newRecords: ApprovalRecord[];
  updatedRecords: ApprovalRecord[];
  decisions: DecisionRow[];
  transitions: Transition[];
  emails: EmailToSend[];
  duplicates: number;
}

export function processBatch(state: BatchState, messages: InboundMessage[], now: number, messageIdDomain: string): BatchChanges {
  const records = new Map(state.records);
  const created = new Set<string>();
  const changed = new Set<string>();
  const seen = new Set(state.knownDecisionIds);
  const decisions = new Map<string, DecisionRow>();
  const awaiting = new Map(state.awaiting);
  const transitions: Transition[] = [];
  const emails: EmailToSend[] = [];
  let duplicates = 0;

  const decide = (decision: ApprovalDecision, wasAwaiting: boolean): void => {
    const record = records.get(decision.requestId);
    if (!record) {
      decisions.set(decision.decisionId, { decision, outcome: 'AWAITING_REQUEST', refusalCode: null, wasAwaiting });
      awaiting.set(decision.requestId, [...(awaiting.get(decision.requestId) ?? []), decision]);
      return;
    }
    const outcome = applyDecision(record, decision, now, messageIdDomain);
    transitions.push(outcome.transition);
    if (outcome.kind === 'REFUSED') {
      decisions.set(decision.decisionId, { decision, outcome: 'REFUSED', refusalCode: outcome.code, wasAwaiting });
      return;
    }
    records.set(decision.requestId, outcome.record);
    if (!created.has(decision.requestId)) changed.add(decision.requestId);
    decisions.set(decision.decisionId, { decision, outcome: 'APPLIED', refusalCode: null, wasAwaiting });
    emails.push(...outcome.emails);
  };

  for (const message of messages) {
    if (message.kind === 'request') {
      const { request } = message;
      if (records.has(request.requestId)) {
        duplicates += 1; // the first delivery opened it; later ones change nothing
        continue;
      }
      const opened = openApproval(request, message.approvers, now, messageIdDomain);
      records.set(request.requestId, opened.record);
      created.add(request.requestId);
      transitions.push(opened.transition);
      emails.push(...opened.emails);
      // Decisions that raced ahead of this request apply now, in the order they were made.
      for (const early of awaiting.get(request.requestId) ?? []) {
        decide(early, state.awaiting.get(request.requestId)?.includes(early) ?? false);
      }
      awaiting.delete(request.requestId);
    } else {
      const { decision } = message;
      if (seen.has(decision.decisionId)) {
        duplicates += 1;
        continue;
      }
      seen.add(decision.decisionId);
      decide(decision, false);
    }
  }

  return {
    newRecords: [...created].map((id) => records.get(id)!),
    updatedRecords: [...changed].map((id) => records.get(id)!),
    decisions: [...decisions.values()],
    transitions,
    emails,
    duplicates,
  };
}
