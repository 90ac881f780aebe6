// Who decides: the vote state machine of ANY, ALL, QUORUM and SEQUENTIAL policies, delegation,
// reassignment and per-card outcomes, as pure functions. The exhaustive part plays every sequence
// of votes (approvals, rejections, postponements, repeats, outsiders, votes after the end) against
// a reference model written separately, one vote per batch and all in one batch.
import { ANY_RULE, DEFAULT_APPROVAL_POLICIES, type ApprovalPolicy, type Delegation } from '../../src/domain/approval-policy';
import type { Stage } from '../../src/domain/approval-votes';
import type { ApprovalRecord } from '../../src/domain/approval';
import { DEFAULT_TIMER_POLICIES, fireTimers } from '../../src/domain/approval-timers';
import { DEFAULT_CARD_CONFLICT_POLICY } from '../../src/domain/card-conflicts';
import type { ApprovalDecision, CardOperationRequest, CardOutcome, DecisionKind, Person, VoteRule } from '../../src/domain/card-operation';
import { decideBatch, type BatchOutcome, type BatchRules, type BatchState, type InboundMessage } from '../../src/domain/decide-batch';
import { admitRequest } from '../../src/domain/validate-message';
import fc from 'fast-check';
import { aDecision, aPerson, aRequest } from '../support/builders';

const NOW = Date.UTC(2026, 10, 30, 12);
const RULES: BatchRules = { messageIdDomain: 'x.test', cardConflictPolicy: DEFAULT_CARD_CONFLICT_POLICY, timerPolicies: DEFAULT_TIMER_POLICIES };
const ANY = ANY_RULE;
const ALL: VoteRule = { mode: 'ALL', quorum: null };
const QUORUM = (n: number): VoteRule => ({ mode: 'QUORUM', quorum: n });

/** Folds batches one after another, carrying the records (and seen decisions) as storage would. */
class Run {
  state: BatchState = { records: new Map(), knownDecisionIds: new Set(), awaiting: new Map(), cardHolders: new Map(), delegations: [] };
  outcomes: BatchOutcome[] = [];

  constructor(delegations: Delegation[] = []) {
    this.state.delegations = delegations;
  }

  apply(messages: InboundMessage[], now = NOW): BatchOutcome {
    const outcome = decideBatch(this.state, messages, now, RULES);
    for (const r of [...outcome.opened, ...outcome.changed]) this.state.records.set(r.requestId, r);
    for (const d of outcome.decisions) this.state.knownDecisionIds.add(d.decision.decisionId);
    this.outcomes.push(outcome);
    return outcome;
  }

  record(requestId: string): ApprovalRecord {
    return this.state.records.get(requestId)!;
  }
}

const opening = (request: CardOperationRequest, stages: Stage[]): InboundMessage => ({ kind: 'request', request, stages });
const deciding = (decision: ApprovalDecision): InboundMessage => ({ kind: 'decision', decision });

// ---------------------------------------------------------------------------------------------
// The reference model: sets and counters, no shared code with the domain.

interface ModelStage {
  people: string[];
  rule: VoteRule;
}
type Kind = 'APPROVED' | 'REJECTED' | 'POSTPONED';
type Expected = { result: 'APPLIED' | 'REFUSED'; code?: string; events: string[] };

function model(stages: ModelStage[], votes: Array<[string, Kind]>): { steps: Expected[]; status: string; stage: number } {
  let stage = 0;
  let status = 'PENDING';
  const counted = new Set<string>();
  const approvals = stages.map(() => new Set<string>());
  const oneVote = stages.length === 1 && stages[0]!.rule.mode === 'ANY';
  const steps = votes.map(([who, kind]): Expected => {
    if (status !== 'PENDING') return { result: 'REFUSED', code: 'REQUEST_CLOSED', events: ['DECISION_REFUSED'] };
    if (counted.has(who)) return { result: 'REFUSED', code: 'ALREADY_VOTED', events: ['DECISION_REFUSED'] };
    // Someone asked in a later stage waits for it.
    if (stages.slice(stage + 1).some((s) => s.people.includes(who))) return { result: 'REFUSED', code: 'NOT_AN_APPROVER', events: ['DECISION_REFUSED'] };
    if (!stages[stage]!.people.includes(who)) return { result: 'REFUSED', code: 'NOT_AN_APPROVER', events: ['DECISION_REFUSED'] };
    if (kind === 'POSTPONED') return { result: 'APPLIED', events: ['POSTPONED'] };
    counted.add(who);
    if (kind === 'REJECTED') {
      status = 'REJECTED';
      return { result: 'APPLIED', events: oneVote ? ['REJECTED'] : ['VOTED', 'REJECTED'] };
    }
    approvals[stage]!.add(who);
    const { rule, people } = stages[stage]!;
    const voters = people.filter((p) => !stages.slice(0, stage).some((_, i) => approvals[i]!.has(p))).length;
    const needed = rule.mode === 'ANY' ? 1 : rule.mode === 'ALL' ? voters : rule.quorum!;
    if (approvals[stage]!.size < needed) return { result: 'APPLIED', events: ['VOTED'] };
    if (stage + 1 < stages.length) {
      stage += 1;
      return { result: 'APPLIED', events: ['VOTED'] };
    }
    status = 'APPROVED';
    return { result: 'APPLIED', events: oneVote ? ['APPROVED'] : ['VOTED', 'APPROVED'] };
  });
  return { steps, status, stage };
}

/** Every sequence of `length` items from `alphabet`. */
function* sequences<T>(alphabet: T[], length: number): Generator<T[]> {
  if (length === 0) {
    yield [];
    return;
  }
  for (const head of alphabet) for (const tail of sequences(alphabet, length - 1)) yield [head, ...tail];
}

const POLICIES: Array<{ name: string; stages: Array<{ names: string[]; rule: VoteRule }> }> = [
  { name: 'ANY of 3', stages: [{ names: ['a', 'b', 'c'], rule: ANY }] },
  { name: 'ALL of 3', stages: [{ names: ['a', 'b', 'c'], rule: ALL }] },
  { name: 'QUORUM 2 of 3', stages: [{ names: ['a', 'b', 'c'], rule: QUORUM(2) }] },
  { name: 'SEQUENTIAL: ANY of 2, then ALL of 2', stages: [{ names: ['a', 'b'], rule: ANY }, { names: ['c', 'd'], rule: ALL }] },
  { name: 'SEQUENTIAL: QUORUM 2 of 3, then ANY of 2 sharing one person', stages: [{ names: ['a', 'b', 'c'], rule: QUORUM(2) }, { names: ['c', 'd'], rule: ANY }] },
];

describe.each(POLICIES)('$name: every order of votes matches the reference model', ({ stages: spec }) => {
  const names = [...new Set(spec.flatMap((s) => s.names)), 'x'];
  // Every approver approves, rejects or postpones; the outsider x only tries to approve. Two-stage
  // policies leave out postponements but one, to keep the count near 10,000 per policy.
  const kinds: Kind[] = spec.length > 1 ? ['APPROVED', 'REJECTED'] : ['APPROVED', 'REJECTED', 'POSTPONED'];
  const alphabet: Array<[string, Kind]> = [
    ...names.filter((n) => n !== 'x').flatMap((n) => kinds.map((k) => [n, k] as [string, Kind])),
    ...(spec.length > 1 ? [['c', 'POSTPONED'] as [string, Kind]] : []),
    ['x', 'APPROVED'],
  ];
  const length = 4;

  test(`all ${alphabet.length ** length} sequences of ${length} votes, one per batch and all in one batch`, () => {
    const request = aRequest('LOCK_CARD', { requestId: 'r1', approvers: [] });
    const people = Object.fromEntries(names.map((n) => [n, aPerson(n, { id: n, email: `${n}@example.com` })]));
    const stages: Stage[] = spec.map((s, i) => ({ name: `stage ${i + 1}`, rule: s.rule, approvers: s.names.map((n) => people[n]!) }));
    const show = (e: { result: string; code?: string | null; events: string[] }) => `${e.result}${e.code ? `:${e.code}` : ''}[${e.events.join(',')}]`;
    const mismatches: unknown[] = [];
    let checked = 0;
    for (const votes of sequences(alphabet, length)) {
      const decisions = votes.map(([who, kind], i) => aDecision(request, kind as DecisionKind, { decisionId: `d${i}`, approver: people[who]!, reason: kind === 'REJECTED' ? 'no' : null }));
      const expected = model(spec.map((s) => ({ people: s.names, rule: s.rule })), votes);

      const oneByOne = new Run();
      oneByOne.apply([opening(request, stages)]);
      const got = decisions.map((d) => oneByOne.apply([deciding(d)])).map((o) => show({ result: o.decisions[0]!.result, code: o.decisions[0]!.refusalCode, events: o.transitions.map((t) => t.event.type) }));
      const final = oneByOne.record('r1');
      const together = new Run().apply([opening(request, stages), ...decisions.map(deciding)]);
      const sameIds = together.transitions.map((t) => t.event.eventId).join() === oneByOne.outcomes.flatMap((o) => o.transitions.map((t) => t.event.eventId)).join();
      const want = expected.steps.map(show);
      if (got.join() !== want.join() || final.status !== expected.status || final.stage !== expected.stage || together.opened[0]!.status !== expected.status || !sameIds) {
        mismatches.push({ votes, got, want, status: [final.status, together.opened[0]!.status, expected.status], stage: [final.stage, expected.stage], sameIds });
      }
      checked += 1;
    }
    expect(mismatches.slice(0, 3)).toEqual([]);
    expect(checked).toBe(alphabet.length ** length);
  });
});

describe('votes, progress and emails', () => {
  const people = (...ids: string[]): Person[] => ids.map((id) => aPerson(id, { id, email: `${id}@example.com` }));

  test('ALL: each approval is a VOTED event with progress (1 of 2, 2 of 2) before APPROVED; the requester is emailed once, at the end', () => {
    const [a, b] = people('a', 'b');
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!] });
    const run = new Run();
    run.apply([opening(request, [{ name: 'approval', rule: ALL, approvers: [a!, b!] }])]);
    const first = run.apply([deciding(aDecision(request, 'APPROVED', { approver: a! }))]);
    expect(first.transitions.map((t) => [t.event.type, t.event.progress?.approvals, t.event.progress?.required])).toEqual([['VOTED', 1, 2]]);
    expect(first.emails).toEqual([]);
    const second = run.apply([deciding(aDecision(request, 'APPROVED', { approver: b! }))]);
    expect(second.transitions.map((t) => [t.event.type, t.event.status, t.event.progress?.approvals])).toEqual([
      ['VOTED', 'PENDING', 2],
      ['APPROVED', 'APPROVED', 2],
    ]);
    expect(second.transitions.map((t) => t.statusBefore)).toEqual(['PENDING', 'PENDING']);
    expect(second.emails.map((e) => [e.recipient.id, e.template, e.eventId])).toEqual([[request.requester.id, 'request-approved', second.transitions[1]!.event.eventId]]);
  });

  test('SEQUENTIAL: the next stage is emailed when the first is done; the first stage is not asked again', () => {
    const [a, b, c, d] = people('a', 'b', 'c', 'd');
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!] });
    const run = new Run();
    const opened = run.apply([opening(request, [{ name: 'line manager', rule: ANY, approvers: [a!, b!] }, { name: 'security', rule: ALL, approvers: [c!, d!] }])]);
    expect(opened.emails.map((e) => e.recipient.id)).toEqual(['a', 'b']);
    expect(opened.transitions[0]!.event.progress).toEqual({ stage: 1, stages: 2, stageName: 'line manager', approvals: 0, required: 1 });
    const advanced = run.apply([deciding(aDecision(request, 'APPROVED', { approver: a! }))]);
    expect(advanced.transitions[0]!.event.message).toBe('Stage 1 of 2 (line manager): 1 of 1 approvals; stage 2 (security) is asked.');
    expect(advanced.transitions[0]!.event.approvers.map((p) => p.id)).toEqual(['c', 'd']);
    expect(advanced.emails.map((e) => [e.recipient.id, e.template])).toEqual([
      ['c', 'approval-requested'],
      ['d', 'approval-requested'],
    ]);
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: b! }))]).decisions[0]!.refusalCode).toBe('NOT_AN_APPROVER');
  });

  test('a postponement is no vote: the approver may still approve, and the request stays in their tasks', () => {
    const [a, b] = people('a', 'b');
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!] });
    const run = new Run();
    run.apply([opening(request, [{ name: 'approval', rule: QUORUM(2), approvers: [a!, b!] }])]);
    const postponed = run.apply([deciding(aDecision(request, 'POSTPONED', { approver: a! }))]);
    expect(postponed.transitions[0]!.event.progress).toMatchObject({ approvals: 0, required: 2 });
    expect(run.record(request.requestId).lastPostponedBy?.id).toBe('a');
    expect(run.record(request.requestId).votes).toEqual([]);
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: a! }))]).decisions[0]!.result).toBe('APPLIED');
  });

  test('a rejection by any counting approver ends the request, with its reason, after the VOTED event', () => {
    const [a, b, c] = people('a', 'b', 'c');
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!, c!] });
    const run = new Run();
    run.apply([opening(request, [{ name: 'approval', rule: QUORUM(2), approvers: [a!, b!, c!] }])]);
    run.apply([deciding(aDecision(request, 'APPROVED', { approver: a! }))]);
    const rejected = run.apply([deciding(aDecision(request, 'REJECTED', { approver: b!, reason: 'not needed' }))]);
    expect(rejected.transitions.map((t) => t.event.type)).toEqual(['VOTED', 'REJECTED']);
    expect(rejected.emails.map((e) => e.template)).toEqual(['request-rejected']);
    expect(run.record(request.requestId).status).toBe('REJECTED');
  });

  test('ALL counts only approvers who may decide: a listed requester or holder is not waited for', () => {
    const [a, b] = people('a', 'b');
    const request = aRequest('LOCK_CARD');
    const listed = [a!, b!, request.requester, request.cards[0]!.holder];
    const run = new Run();
    run.apply([opening(request, [{ name: 'approval', rule: ALL, approvers: listed }])]);
    run.apply([deciding(aDecision(request, 'APPROVED', { approver: a! }))]);
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: b! }))]).transitions.map((t) => t.event.type)).toEqual(['VOTED', 'APPROVED']);
  });

  test('an escalation group joins the active stage and stays with the stages that follow', () => {
    const [a, b, c] = people('a', 'b', 'c');
    const boss = aPerson('boss', { id: 'boss', email: 'boss@example.com' });
    const request = aRequest('LOCK_CARD', { approvers: [a!] });
    const run = new Run();
    run.apply([opening(request, [{ name: 'one', rule: ANY, approvers: [a!] }, { name: 'two', rule: ALL, approvers: [b!, c!] }])]);
    const record = run.record(request.requestId);
    const escalated = fireTimers(record, { requestId: record.requestId, remindAt: null, reminders: 0, escalateAt: NOW, expireAt: null }, NOW, { ...DEFAULT_TIMER_POLICIES.LOCK_CARD, escalateAfterMs: 1000, escalateTo: [boss] }, 'x.test');
    run.state.records.set(record.requestId, escalated.record);
    expect(escalated.record.approvers.map((p) => p.id)).toEqual(['a', 'boss']);
    run.apply([deciding(aDecision(request, 'APPROVED', { approver: boss }))]);
    expect(run.record(request.requestId).approvers.map((p) => p.id)).toEqual(['b', 'c', 'boss']);
    // The boss decided stage one, so cannot vote in stage two as well: a person counts once per request.
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: boss, decisionId: 'again' }))]).decisions[0]!.refusalCode).toBe('ALREADY_VOTED');
  });
});

describe('delegation', () => {
  const [a, b, d] = ['a', 'b', 'd'].map((id) => aPerson(id, { id, email: `${id}@example.com` }));
  const delegation = (approver: Person, delegate: Person, startsAt = NOW - 1000, endsAt = NOW + 86_400_000): Delegation => ({ delegationId: `${approver.id}->${delegate.id}`, approver, delegate, startsAt, endsAt });

  const openAll = (run: Run, request: CardOperationRequest, approvers: Person[]): void => {
    run.apply([opening(request, [{ name: 'approval', rule: ALL, approvers }])]);
  };

  test('a delegate votes for the approver, once; the approver cannot vote again, and the event says who decided for whom', () => {
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!] });
    const run = new Run([delegation(a!, d!)]);
    openAll(run, request, [a!, b!]);
    const voted = run.apply([deciding(aDecision(request, 'APPROVED', { approver: d! }))]);
    expect(voted.transitions[0]!.event.decision?.onBehalfOf?.id).toBe('a');
    expect(voted.transitions[0]!.event.message).toContain('decided for');
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: a! }))]).decisions[0]!.refusalCode).toBe('ALREADY_VOTED');
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: d! }))]).decisions[0]!.refusalCode).toBe('ALREADY_VOTED');
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: b! }))]).transitions.map((t) => t.event.type)).toEqual(['VOTED', 'APPROVED']);
  });

  test('a delegate who is also a listed approver counts once', () => {
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!] });
    const run = new Run([delegation(a!, b!)]);
    openAll(run, request, [a!, b!]);
    const first = run.apply([deciding(aDecision(request, 'APPROVED', { approver: b! }))]);
    expect(first.transitions[0]!.event.decision?.onBehalfOf).toBeNull();
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: b! }))]).decisions[0]!.refusalCode).toBe('ALREADY_VOTED');
    expect(run.record(request.requestId).status).toBe('PENDING');
  });

  test('separation of duties holds through delegation: a delegate who is the requester or a holder cannot decide', () => {
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!] });
    const run = new Run([delegation(a!, request.requester), delegation(b!, request.cards[0]!.holder)]);
    openAll(run, request, [a!, b!]);
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: request.requester }))]).decisions[0]!.refusalCode).toBe('SELF_APPROVAL');
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: request.cards[0]!.holder }))]).decisions[0]!.refusalCode).toBe('HOLDER_APPROVAL');
  });

  test('a delegate asked in a later stage cannot decide this one for someone: the later stage would be left without them', () => {
    const request = aRequest('LOCK_CARD', { approvers: [a!] });
    const run = new Run([delegation(a!, d!)]);
    run.apply([opening(request, [{ name: 'line manager', rule: ANY, approvers: [a!] }, { name: 'security', rule: ANY, approvers: [d!] }])]);
    const refused = run.apply([deciding(aDecision(request, 'APPROVED', { approver: d! }))]);
    expect([refused.decisions[0]!.refusalCode, refused.transitions[0]!.event.message]).toEqual(['NOT_AN_APPROVER', 'd is asked in stage 2; a person approves in one stage only, so not in this one.']);
    run.apply([deciding(aDecision(request, 'APPROVED', { approver: a! }))]);
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: d! }))]).transitions.map((t) => t.event.type)).toEqual(['VOTED', 'APPROVED']);
  });

  test('an identity that matches two approvers (one\'s id, the other\'s email) is refused, not counted twice', () => {
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!] });
    const run = new Run();
    openAll(run, request, [a!, b!]);
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: { ...a!, email: b!.email } }))]).decisions[0]!.refusalCode).toBe('NOT_AN_APPROVER');
  });

  test('a delegation outside its period gives nothing', () => {
    const request = aRequest('LOCK_CARD', { approvers: [a!] });
    for (const period of [delegation(a!, d!, NOW + 1000, NOW + 2000), delegation(a!, d!, NOW - 2000, NOW - 1000)]) {
      const run = new Run([period]);
      openAll(run, request, [a!]);
      expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: d! }))]).decisions[0]!.refusalCode).toBe('NOT_AN_APPROVER');
    }
  });
});

describe('reassignment', () => {
  const [a, b, c, e] = ['a', 'b', 'c', 'e'].map((id) => aPerson(id, { id, email: `${id}@example.com` }));
  const operator = aPerson('operator');
  const reassign = (request: CardOperationRequest, from: Person, to: Person, overrides: Partial<ApprovalDecision> = {}) =>
    deciding(aDecision(request, 'REASSIGNED', { approver: operator, actingAs: 'OPERATOR', reassign: { from, to }, ...overrides }));

  test('an operator hands an approver\'s part to another person, who is emailed; the first can no longer vote', () => {
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!] });
    const run = new Run();
    run.apply([opening(request, [{ name: 'approval', rule: ALL, approvers: [a!, b!] }])]);
    const moved = run.apply([reassign(request, a!, e!)]);
    expect(moved.transitions.map((t) => [t.event.type, t.event.message])).toEqual([['REASSIGNED', expect.stringContaining('Reassigned from')]]);
    expect(moved.emails.map((m) => [m.recipient.id, m.template])).toEqual([['e', 'approval-requested']]);
    expect(run.record(request.requestId).approvers.map((p) => p.id)).toEqual(['b', 'e']);
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: a! }))]).decisions[0]!.refusalCode).toBe('NOT_AN_APPROVER');
    run.apply([deciding(aDecision(request, 'APPROVED', { approver: e! }))]);
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: b! }))]).transitions.map((t) => t.event.type)).toEqual(['VOTED', 'APPROVED']);
  });

  test('a later stage\'s approver can be reassigned before their stage starts', () => {
    const request = aRequest('LOCK_CARD', { approvers: [a!] });
    const run = new Run();
    run.apply([opening(request, [{ name: 'one', rule: ANY, approvers: [a!] }, { name: 'two', rule: ANY, approvers: [c!] }])]);
    expect(run.apply([reassign(request, c!, e!)]).emails).toEqual([]);
    run.apply([deciding(aDecision(request, 'APPROVED', { approver: a! }))]);
    expect(run.record(request.requestId).approvers.map((p) => p.id)).toEqual(['e']);
  });

  test.each([
    ['by an approver', { actingAs: 'APPROVER' as const }, 'REASSIGNMENT_NOT_ALLOWED'],
    ['to the requester', 'requester', 'SELF_APPROVAL'],
    ['to a holder', 'holder', 'HOLDER_APPROVAL'],
    ['from someone not asked', 'outsider', 'NOT_AN_APPROVER'],
    ['to someone who already voted', 'voter', 'ALREADY_VOTED'],
  ] as const)('a reassignment %s is refused %s', (_, twist, code) => {
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!, c!] });
    const run = new Run();
    run.apply([opening(request, [{ name: 'approval', rule: QUORUM(2), approvers: [a!, b!, c!] }])]);
    run.apply([deciding(aDecision(request, 'APPROVED', { approver: c! }))]);
    const message =
      twist === 'requester' ? reassign(request, a!, request.requester)
      : twist === 'holder' ? reassign(request, a!, request.cards[0]!.holder)
      : twist === 'outsider' ? reassign(request, e!, aPerson('new'))
      : twist === 'voter' ? reassign(request, a!, c!)
      : reassign(request, a!, e!, twist);
    expect(run.apply([message]).decisions[0]!.refusalCode).toBe(code);
  });

  test('under ALL, a voter\'s part cannot be handed on: their vote stands, and the one left must still approve', () => {
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!] });
    const run = new Run();
    run.apply([opening(request, [{ name: 'approval', rule: ALL, approvers: [a!, b!] }])]);
    run.apply([deciding(aDecision(request, 'APPROVED', { approver: a! }))]);
    expect(run.apply([reassign(request, a!, e!)]).decisions[0]!.refusalCode).toBe('ALREADY_VOTED');
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { approver: e! }))]).decisions[0]!.refusalCode).toBe('NOT_AN_APPROVER');
    expect(run.record(request.requestId).status).toBe('PENDING');
  });

  test('a reassignment to someone asked in another stage is refused: a person approves in one stage only', () => {
    const request = aRequest('LOCK_CARD', { approvers: [a!] });
    const run = new Run();
    run.apply([opening(request, [{ name: 'one', rule: ANY, approvers: [a!] }, { name: 'two', rule: ANY, approvers: [b!] }])]);
    expect(run.apply([reassign(request, a!, b!)]).decisions[0]!.refusalCode).toBe('REASSIGNMENT_NOT_ALLOWED');
  });

  test('a reassignment that would leave a quorum out of reach is refused', () => {
    const request = aRequest('LOCK_CARD', { approvers: [a!, b!] });
    const run = new Run();
    run.apply([opening(request, [{ name: 'approval', rule: QUORUM(2), approvers: [a!, b!] }])]);
    expect(run.apply([reassign(request, a!, b!)]).decisions[0]!.refusalCode).toBe('REASSIGNMENT_NOT_ALLOWED');
  });
});

describe('per-card decisions (REQUEST_MULTIPLE_CARDS under ANY)', () => {
  const open = (rule: VoteRule = ANY) => {
    const request = aRequest('REQUEST_MULTIPLE_CARDS');
    const run = new Run();
    run.apply([opening(request, [{ name: 'approval', rule, approvers: request.approvers }])]);
    return { request, run };
  };

  test.each([
    ['no per-card outcomes: every card approved', [] as CardOutcome[], 'APPROVED', ['APPROVED', 'APPROVED', 'APPROVED'], 'request-approved'],
    ['one card rejected: partly approved', [{ cardIndex: 2, outcome: 'REJECTED', reason: 'has one' }], 'PARTIALLY_APPROVED', ['APPROVED', 'APPROVED', 'REJECTED'], 'request-partially-approved'],
    [
      'every card rejected: rejected',
      [0, 1, 2].map((cardIndex): CardOutcome => ({ cardIndex, outcome: 'REJECTED', reason: `no ${cardIndex}` })),
      'REJECTED',
      ['REJECTED', 'REJECTED', 'REJECTED'],
      'request-rejected',
    ],
    ['cards named approved: approved', [{ cardIndex: 0, outcome: 'APPROVED', reason: null }], 'APPROVED', ['APPROVED', 'APPROVED', 'APPROVED'], 'request-approved'],
  ] as const)('%s', (_, outcomes, status, perCard, template) => {
    const { request, run } = open();
    const decided = run.apply([deciding(aDecision(request, 'APPROVED', { cardOutcomes: outcomes.map((o) => ({ ...o })) }))]);
    expect(decided.transitions.map((t) => [t.event.type, t.event.status])).toEqual([[status, status]]);
    expect(decided.transitions[0]!.event.cardResults.map((c) => c.outcome)).toEqual(perCard);
    expect(decided.emails.map((e) => e.template)).toEqual([template]);
    expect(run.record(request.requestId).cardResults).toEqual(decided.transitions[0]!.event.cardResults);
  });

  test('a plain rejection rejects every card with its reason', () => {
    const { request, run } = open();
    const decided = run.apply([deciding(aDecision(request, 'REJECTED', { reason: 'budget' }))]);
    expect(decided.transitions[0]!.event.cardResults).toEqual([0, 1, 2].map((cardIndex) => ({ cardIndex, outcome: 'REJECTED', reason: 'budget' })));
  });

  test.each([
    ['under ALL', ALL, 'APPROVED', [{ cardIndex: 0, outcome: 'REJECTED', reason: 'x' }], 'CARD_OUTCOMES_NOT_ALLOWED'],
    ['with a rejection', ANY, 'REJECTED', [{ cardIndex: 0, outcome: 'REJECTED', reason: 'x' }], 'CARD_OUTCOMES_NOT_ALLOWED'],
    ['for a card that is not there', ANY, 'APPROVED', [{ cardIndex: 3, outcome: 'REJECTED', reason: 'x' }], 'CARD_OUTCOMES_INVALID'],
    ['naming a card twice', ANY, 'APPROVED', [{ cardIndex: 1, outcome: 'REJECTED', reason: 'x' }, { cardIndex: 1, outcome: 'APPROVED', reason: null }], 'CARD_OUTCOMES_INVALID'],
    ['rejecting a card without a reason', ANY, 'APPROVED', [{ cardIndex: 1, outcome: 'REJECTED', reason: ' ' }], 'REASON_REQUIRED'],
  ] as const)('per-card outcomes %s are refused %s', (_, rule, kind, outcomes, code) => {
    const { request, run } = open(rule);
    const refused = run.apply([deciding(aDecision(request, kind, { cardOutcomes: outcomes.map((o) => ({ ...o })) }))]);
    expect(refused.decisions[0]!.refusalCode).toBe(code);
    expect(run.record(request.requestId).status).toBe('PENDING');
  });

  test('per-card outcomes on another operation are refused', () => {
    const request = aRequest('LOCK_CARD');
    const run = new Run();
    run.apply([opening(request, [{ name: 'approval', rule: ANY, approvers: request.approvers }])]);
    expect(run.apply([deciding(aDecision(request, 'APPROVED', { cardOutcomes: [{ cardIndex: 0, outcome: 'REJECTED', reason: 'x' }] }))]).decisions[0]!.refusalCode).toBe('CARD_OUTCOMES_NOT_ALLOWED');
  });
});

describe('admission: stages from the policy, and the request\'s own rule', () => {
  const limits = { maxCardsPerRequest: 10, approverGroups: {} };
  const withPolicy = (policy: Partial<ApprovalPolicy>) => ({ ...limits, approvalPolicies: { ...DEFAULT_APPROVAL_POLICIES, LOCK_CARD: { ...DEFAULT_APPROVAL_POLICIES.LOCK_CARD, ...policy } } });

  test('a request\'s own rule replaces the stages where the policy allows it, and is refused where it does not (the default)', () => {
    const request = aRequest('LOCK_CARD', { approvalRule: QUORUM(2) });
    expect(admitRequest(request, 'LOCK_CARD', withPolicy({ requestRule: 'allow' }))).toMatchObject({ admitted: { stages: [{ rule: QUORUM(2), approvers: request.approvers }] } });
    expect(admitRequest(request, 'LOCK_CARD', withPolicy({}))).toEqual({ rejected: { reason: 'INVALID_CONTENT', detail: "LOCK_CARD's policy does not let a request set its own approval rule" } });
  });

  test('a stage that could never get the approvals it needs refuses the request at the door', () => {
    const request = aRequest('LOCK_CARD', { approvers: [aPerson('a')] });
    request.approvers.push(request.requester);
    expect(admitRequest(request, 'LOCK_CARD', withPolicy({ stages: [{ name: 'approval', rule: QUORUM(2), approvers: 'request' }] }))).toEqual({
      rejected: { reason: 'NO_ELIGIBLE_APPROVERS', detail: 'the request needs 2 approval(s) but has 1 approver(s) who may decide (the requester and card holders may not)' },
    });
  });

  test('a person asked in two stages (the request names the security officer, say) refuses the request at the door', () => {
    const officer = aPerson('officer');
    const request = aRequest('LOCK_CARD', { approvers: [aPerson('manager'), { ...officer, id: officer.id.toUpperCase() }] });
    expect(admitRequest(request, 'LOCK_CARD', withPolicy({ stages: [{ name: 'line manager', rule: ANY, approvers: 'request' }, { name: 'security', rule: ANY, approvers: [officer] }] }))).toEqual({
      rejected: { reason: 'NO_ELIGIBLE_APPROVERS', detail: `${officer.id.toUpperCase()} is asked in more than one stage; a person approves in one stage only` },
    });
  });

  test('a configured stage with its own people needs no approvers in the request', () => {
    const security = [aPerson('sec1'), aPerson('sec2')];
    const request = aRequest('LOCK_CARD', { approvers: [] });
    expect(admitRequest(request, 'LOCK_CARD', withPolicy({ stages: [{ name: 'security', rule: ALL, approvers: security }] }))).toMatchObject({
      admitted: { stages: [{ name: 'security', approvers: security }] },
    });
  });

  test.each([
    [{ mode: 'UNKNOWN', quorum: null }, 'approvalRule.mode UNKNOWN is not one this worker knows'],
    [{ mode: 'QUORUM', quorum: 0 }, 'approvalRule: QUORUM needs a quorum from 1 to 100'],
    [{ mode: 'ALL', quorum: 2 }, 'approvalRule: only QUORUM takes a quorum'],
  ])('a rule %j is invalid content', (rule, detail) => {
    const request = aRequest('LOCK_CARD', { approvalRule: rule as VoteRule });
    expect(admitRequest(request, 'LOCK_CARD', withPolicy({ requestRule: 'allow' }))).toEqual({ rejected: { reason: 'INVALID_CONTENT', detail } });
  });
});

describe('generated decisions (property-based): whatever arrives, every decision gets one outcome and a request ends at most once', () => {
  // A small cast, so that generated votes hit the approvers, the requester, holders, delegates and strangers alike.
  const cast = ['a', 'b', 'c', 'd', 'e'].map((id) => aPerson(id, { id, email: `${id}@example.com` }));
  const request = aRequest('REQUEST_MULTIPLE_CARDS', { requestId: 'r1', requester: aPerson('req', { id: 'req', email: 'req@example.com' }), approvers: cast.slice(0, 3) });
  const everyone = [...cast, request.requester, ...request.cards.map((c) => c.holder)];
  const person = fc.constantFrom(...everyone);
  const rule = fc.oneof(fc.constant(ANY), fc.constant(ALL), fc.integer({ min: 1, max: 3 }).map(QUORUM));
  const stages = fc.array(fc.record({ name: fc.constantFrom('one', 'two'), rule, approvers: fc.uniqueArray(person, { minLength: 1, maxLength: 4, selector: (p) => p.id }) }), { minLength: 1, maxLength: 3 });
  const cardOutcome = fc.record({ cardIndex: fc.integer({ min: -2, max: 4 }), outcome: fc.constantFrom('APPROVED' as const, 'REJECTED' as const), reason: fc.constantFrom(null, '', ' ', 'no') });
  const decision = fc.record({
    kind: fc.constantFrom<DecisionKind>('APPROVED', 'REJECTED', 'POSTPONED', 'WITHDRAWN', 'REASSIGNED'),
    approver: person,
    actingAs: fc.constantFrom('APPROVER' as const, 'REQUESTER' as const, 'OPERATOR' as const, 'UPSTREAM' as const),
    reason: fc.constantFrom(null, '', 'because'),
    cardOutcomes: fc.array(cardOutcome, { maxLength: 3 }),
    reassign: fc.option(fc.record({ from: person, to: person })),
    repeat: fc.boolean(),
  });
  const delegations = fc.array(fc.record({ approver: person, delegate: person }), { maxLength: 3 });

  test('1,000 generated histories, one vote per batch and all in one batch', () => {
    fc.assert(
      fc.property(stages, fc.array(decision, { maxLength: 8 }), delegations, (stageSpec, spec, delegated) => {
        const resolved: Stage[] = stageSpec.map((s) => ({ ...s }));
        const inForce = delegated.map((d, i): Delegation => ({ delegationId: `g${i}`, ...d, startsAt: NOW - 1, endsAt: NOW + 1 }));
        const decisions = spec.map((d, i) =>
          aDecision(request, d.kind, {
            decisionId: d.repeat && i > 0 ? `d${i - 1}` : `d${i}`,
            approver: d.approver,
            actingAs: d.actingAs,
            reason: d.reason,
            cardOutcomes: d.cardOutcomes,
            reassign: d.kind === 'REASSIGNED' ? (d.reassign ?? { from: cast[0]!, to: cast[4]! }) : null,
          }),
        );
        const oneByOne = new Run(inForce);
        oneByOne.apply([opening(request, resolved)]);
        for (const d of decisions) oneByOne.apply([deciding(d)]);
        const together = new Run(inForce).apply([opening(request, resolved), ...decisions.map(deciding)]);
        const record = oneByOne.record('r1');
        const all = oneByOne.outcomes.flatMap((o) => o.transitions.map((t) => t.event));
        const distinctIds = new Set(decisions.map((d) => d.decisionId)).size;
        // Every distinct decision is taken once (applied or refused); repeats change nothing.
        expect(oneByOne.outcomes.slice(1).reduce((n, o) => n + o.decisions.length, 0)).toBe(distinctIds);
        // At most one end, and it is the record's status; nothing happens after it but refusals.
        const ends = all.filter((e) => e.status !== 'PENDING' && e.type !== 'DECISION_REFUSED');
        expect(ends.length).toBeLessThanOrEqual(1);
        if (ends[0]) expect(ends[0].status).toBe(record.status);
        if (ends[0]) expect(all.slice(all.indexOf(ends[0]) + 1).every((e) => e.type === 'DECISION_REFUSED')).toBe(true);
        // A person counts once; the requester and holders never count; the stage stays in range.
        const counted = record.votes.flatMap((v) => [v.approver.id, ...(v.onBehalfOf ? [v.onBehalfOf.id] : [])]);
        expect(new Set(counted).size).toBe(counted.length);
        expect(counted.some((id) => id === 'req' || request.cards.some((c) => c.holder.id === id))).toBe(false);
        expect(record.stage).toBeGreaterThanOrEqual(0);
        expect(record.stage).toBeLessThan(record.stages.length);
        // One batch or many: the same events.
        expect(together.transitions.map((t) => t.event.eventId)).toEqual(all.map((e) => e.eventId));
      }),
      { numRuns: 1000, seed: 20261130 },
    );
  });
});
