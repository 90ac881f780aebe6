// Rows as the previous version writes them, read by this one: during a rolling update both run
// on one database, so what the older one stores must keep its meaning here.
import { ANY_RULE } from '../../src/domain/approval-policy';
import { DEFAULT_TIMER_POLICIES } from '../../src/domain/approval-timers';
import { DEFAULT_CARD_CONFLICT_POLICY } from '../../src/domain/card-conflicts';
import { decideBatch, type BatchRules, type BatchState } from '../../src/domain/decide-batch';
import { recordFromRow, recordToRow } from '../../src/data-access/approval-records';
import { aDecision, aPerson, aRequest } from '../support/builders';

const NOW = Date.UTC(2026, 11, 2, 12);
const RULES: BatchRules = { messageIdDomain: 'x.test', cardConflictPolicy: DEFAULT_CARD_CONFLICT_POLICY, timerPolicies: DEFAULT_TIMER_POLICIES };
const empty = (): BatchState => ({ records: new Map(), knownDecisionIds: new Set(), awaiting: new Map(), cardHolders: new Map(), delegations: [] });

/**
 * A pending record as a version from before stages stores it: the columns that version writes,
 * and the defaults of those added since (stages `[]`, no votes, no rule). It was escalated once.
 */
function rowOfVersionBeforeStages() {
  const request = aRequest('LOCK_CARD');
  const opened = decideBatch(empty(), [{ kind: 'request', request, stages: [{ name: 'approval', rule: ANY_RULE, approvers: request.approvers }] }], NOW, RULES).opened[0]!;
  const escalated = aPerson('escalation');
  const row = recordToRow({ ...opened, approvers: [...opened.approvers, escalated], escalatedTo: [escalated] });
  return { request, escalated, row: { ...row, stages: [], stage: 0, votes: [], card_results: [], requested_approvers: null, approval_rule: null } };
}

test('a record a version from before stages opened reads as the one stage it had: its approvers under ANY, less those who joined by escalation', () => {
  const { request, row } = rowOfVersionBeforeStages();
  const record = recordFromRow(row);
  expect(record.stages).toEqual([{ name: 'approval', rule: { mode: 'ANY', quorum: null }, approvers: request.approvers }]);
  expect(record.stage).toBe(0);
});

test('such a record is decided as it was: the first final decision ends it, and its stage is stored with the change', () => {
  const { request, escalated, row } = rowOfVersionBeforeStages();
  for (const [who, approver] of [['asked', request.approvers[1]!], ['escalated', escalated]] as const) {
    const state = { ...empty(), records: new Map([[request.requestId, recordFromRow(row)]]) };
    const outcome = decideBatch(state, [{ kind: 'decision', decision: aDecision(request, 'APPROVED', { approver }) }], NOW + 1000, RULES);
    expect({ who, types: outcome.transitions.map((t) => t.event.type), status: outcome.changed[0]?.status }).toEqual({ who, types: ['APPROVED'], status: 'APPROVED' });
    expect(recordToRow(outcome.changed[0]!).stages).toEqual(recordFromRow(row).stages);
  }
});

test('a rejection of such a record needs its reason and ends it REJECTED, and a postponement keeps it pending', () => {
  const { request, row } = rowOfVersionBeforeStages();
  const state = { ...empty(), records: new Map([[request.requestId, recordFromRow(row)]]) };
  const postponed = decideBatch(state, [{ kind: 'decision', decision: aDecision(request, 'POSTPONED') }], NOW + 1000, RULES);
  expect(postponed.changed[0]!.status).toBe('PENDING');
  const refused = decideBatch(state, [{ kind: 'decision', decision: aDecision(request, 'REJECTED', { reason: null }) }], NOW + 1000, RULES);
  expect(refused.transitions[0]!.event.refusalCode).toBe('REASON_REQUIRED');
  const rejected = decideBatch(state, [{ kind: 'decision', decision: aDecision(request, 'REJECTED') }], NOW + 1000, RULES);
  expect(rejected.changed[0]!.status).toBe('REJECTED');
});
