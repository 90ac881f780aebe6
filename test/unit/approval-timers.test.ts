import { ANY_RULE } from '../../src/domain/approval-policy';
// Approvals that always end, as pure rules: when timers are scheduled, what firing them does, and
// who may withdraw a request. No broker, database or SMTP.
import fc from 'fast-check';
import type { ApprovalRecord } from '../../src/domain/approval';
import { DEFAULT_TIMER_POLICIES, fireTimers, reminderInterval, scheduleTimers, type TimerPolicy, type Timers } from '../../src/domain/approval-timers';
import { DEFAULT_CARD_CONFLICT_POLICY } from '../../src/domain/card-conflicts';
import { decideBatch, type BatchRules, type BatchState, type InboundMessage } from '../../src/domain/decide-batch';
import { aDecision, aPerson, aRequest } from '../support/builders';

const NOW = Date.UTC(2026, 10, 30, 12);
const S = 1000;
const RULES: BatchRules = { messageIdDomain: 'x.test', cardConflictPolicy: DEFAULT_CARD_CONFLICT_POLICY, timerPolicies: DEFAULT_TIMER_POLICIES };
const empty = (): BatchState => ({ records: new Map(), knownDecisionIds: new Set(), awaiting: new Map(), cardHolders: new Map(), delegations: [] });
const req = (request = aRequest()): InboundMessage => ({ kind: 'request', request, stages: [{ name: 'approval', rule: ANY_RULE, approvers: request.approvers }] });
const dec = (d: ReturnType<typeof aDecision>): InboundMessage => ({ kind: 'decision', decision: d });

const escalation = [aPerson('escalation'), aPerson('escalation')];
const POLICY: TimerPolicy = { remindAfterMs: 10 * S, remindIntervalMaxMs: 30 * S, escalateAfterMs: 25 * S, escalateTo: escalation, expireAfterMs: 60 * S };

/** A pending approval opened at NOW, as the batch rule opens it. */
function opened(overrides: Parameters<typeof aRequest>[1] = {}): ApprovalRecord {
  return decideBatch(empty(), [req(aRequest('LOCK_CARD', overrides))], NOW, RULES).opened[0]!;
}

describe('scheduling', () => {
  test('reminder, escalation and expiry are counted from when the approval opened', () => {
    const record = opened();
    expect(scheduleTimers(record, POLICY)).toEqual({ requestId: record.requestId, remindAt: NOW + 10 * S, reminders: 0, escalateAt: NOW + 25 * S, expireAt: NOW + 60 * S });
  });

  test("a request's dueAt brings expiry forward, and drops the timers that would fall after it", () => {
    const record = opened({ dueAt: NOW + 20 * S });
    expect(scheduleTimers(record, POLICY)).toMatchObject({ remindAt: NOW + 10 * S, escalateAt: null, expireAt: NOW + 20 * S });
  });

  test('a dueAt later than the policy allows never extends expiry', () => {
    const record = opened({ dueAt: NOW + 3600 * S });
    expect(scheduleTimers(record, POLICY)?.expireAt).toBe(NOW + 60 * S);
  });

  test('a dueAt gives expiry to an operation whose policy has none', () => {
    const record = opened({ dueAt: NOW + 5 * S });
    expect(scheduleTimers(record, { ...POLICY, expireAfterMs: null })?.expireAt).toBe(NOW + 5 * S);
  });

  test('no reminders, no escalation group and no expiry: no timers at all', () => {
    expect(scheduleTimers(opened(), { remindAfterMs: null, remindIntervalMaxMs: 1, escalateAfterMs: 5 * S, escalateTo: [], expireAfterMs: null })).toBeNull();
  });

  test('a batch stores the timers of the approvals it opens, and clears those of approvals it closes', () => {
    const request = aRequest();
    const outcome = decideBatch(empty(), [req(request)], NOW, RULES);
    expect(outcome.timers.set.map((t) => t.requestId)).toEqual([request.requestId]);
    const closed = decideBatch(empty(), [req(request), dec(aDecision(request, 'APPROVED'))], NOW, RULES);
    expect(closed.timers).toEqual({ set: [], cleared: [request.requestId] });
  });

  test('reminder intervals double up to the cap', () => {
    expect([1, 2, 3, 4].map((n) => reminderInterval(POLICY, n))).toEqual([20 * S, 30 * S, 30 * S, 30 * S]);
  });
});

describe('firing', () => {
  const timersOf = (record: ApprovalRecord): Timers => scheduleTimers(record, POLICY)!;

  test('a reminder goes to the approvers who could decide, with a REMINDED event, and the next one is scheduled', () => {
    const record = opened();
    record.approvers = [...record.approvers, record.requester];
    const fired = fireTimers(record, timersOf(record), NOW + 10 * S, POLICY, 'x.test');
    expect(fired.transitions.map((t) => t.event.type)).toEqual(['REMINDED']);
    expect(fired.emails.map((e) => [e.recipient.id, e.template])).toEqual(record.approvers.slice(0, 2).map((p) => [p.id, 'approval-reminder']));
    expect(fired.timers).toMatchObject({ reminders: 1, remindAt: NOW + 30 * S, escalateAt: NOW + 25 * S });
    expect(fired.record.status).toBe('PENDING');
  });

  test('escalation offers the request to the group: they become approvers and only they are emailed', () => {
    const record = opened();
    const fired = fireTimers(record, { ...timersOf(record), remindAt: null }, NOW + 25 * S, POLICY, 'x.test');
    expect(fired.transitions.map((t) => t.event.type)).toEqual(['ESCALATED']);
    expect(fired.record.approvers.map((p) => p.id)).toEqual([...record.approvers, ...escalation].map((p) => p.id));
    expect(fired.transitions[0]!.event.approvers).toHaveLength(4);
    expect(fired.emails.map((e) => [e.recipient.id, e.template])).toEqual(escalation.map((p) => [p.id, 'approval-escalated']));
    expect(fired.timers?.escalateAt).toBeNull();
  });

  test('escalation skips group members who are the requester, a holder, or already approvers', () => {
    const record = opened();
    const policy = { ...POLICY, escalateTo: [record.requester, record.cards[0]!.holder, record.approvers[0]!, escalation[0]!] };
    const fired = fireTimers(record, { ...timersOf(record), remindAt: null }, NOW + 25 * S, policy, 'x.test');
    expect(fired.emails.map((e) => e.recipient.id)).toEqual([escalation[0]!.id]);
  });

  test('a request redelivered after its approval was escalated is still a redelivery, not a conflicting duplicate', () => {
    const request = aRequest('LOCK_CARD');
    const record = decideBatch(empty(), [req(request)], NOW, RULES).opened[0]!;
    const escalated = fireTimers(record, { ...timersOf(record), remindAt: null }, NOW + 25 * S, POLICY, 'x.test').record;
    const again = decideBatch({ ...empty(), records: new Map([[record.requestId, escalated]]) }, [req(request)], NOW + 26 * S, RULES);
    expect(again).toMatchObject({ duplicates: 1, conflicts: [], transitions: [] });
  });

  test('expiry ends the approval EXPIRED, tells the requester, and nothing else fires with it', () => {
    const record = opened();
    const fired = fireTimers(record, timersOf(record), NOW + 60 * S, POLICY, 'x.test');
    expect(fired.transitions.map((t) => t.event.type)).toEqual(['EXPIRED']);
    expect(fired.record).toMatchObject({ status: 'EXPIRED', closedAt: NOW + 60 * S });
    expect(fired.emails.map((e) => [e.recipient.id, e.template])).toEqual([[record.requester.id, 'request-expired']]);
    expect(fired.timers).toBeNull();
  });

  test('a closed approval fires nothing: a decision committed first wins', () => {
    const record = { ...opened(), status: 'APPROVED' as const };
    expect(fireTimers(record, timersOf(record), NOW + 60 * S, POLICY, 'x.test')).toMatchObject({ transitions: [], emails: [], timers: null, record });
  });

  test('reminders missed while no worker ran are not sent in a burst', () => {
    const record = opened();
    const fired = fireTimers(record, { ...timersOf(record), escalateAt: null, expireAt: null }, NOW + 500 * S, POLICY, 'x.test');
    expect(fired.transitions).toHaveLength(1);
    expect(fired.timers!.remindAt).toBeGreaterThan(NOW + 500 * S);
  });

  test('whatever the firing times, each reminder number, escalation and expiry happens at most once, and nothing follows expiry', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 90 * S }), { minLength: 1, maxLength: 30 }),
        fc.record({ remind: fc.integer({ min: 1, max: 40 }), cap: fc.integer({ min: 1, max: 60 }), escalate: fc.integer({ min: 1, max: 70 }), expire: fc.integer({ min: 1, max: 80 }) }),
        (offsets, p) => {
          const policy: TimerPolicy = { remindAfterMs: p.remind * S, remindIntervalMaxMs: p.cap * S, escalateAfterMs: p.escalate * S, escalateTo: escalation, expireAfterMs: p.expire * S };
          let record = opened();
          let timers = scheduleTimers(record, policy);
          const eventIds: string[] = [];
          const messageIds: string[] = [];
          const types: string[] = [];
          for (const at of offsets.sort((a, b) => a - b)) {
            if (!timers) break;
            const fired = fireTimers(record, timers, NOW + at, policy, 'x.test');
            record = fired.record;
            timers = fired.timers;
            eventIds.push(...fired.transitions.map((t) => t.event.eventId));
            types.push(...fired.transitions.map((t) => t.event.type));
            messageIds.push(...fired.emails.map((e) => e.messageId));
          }
          expect(new Set(eventIds).size).toBe(eventIds.length);
          expect(new Set(messageIds).size).toBe(messageIds.length);
          expect(types.filter((t) => t === 'ESCALATED').length).toBeLessThanOrEqual(1);
          if (types.includes('EXPIRED')) expect(types.indexOf('EXPIRED')).toBe(types.length - 1);
          if (record.status === 'EXPIRED') expect(timers).toBeNull();
        },
      ),
    );
  });
});

describe('time decides, not which part of the worker runs first', () => {
  const rules = (policy: Partial<TimerPolicy>): BatchRules => ({ ...RULES, timerPolicies: { ...DEFAULT_TIMER_POLICIES, LOCK_CARD: { ...POLICY, ...policy } } });

  test('a decision processed after the approval expired is refused, even before the expiry timer fired', () => {
    const request = aRequest('LOCK_CARD');
    const record = decideBatch(empty(), [req(request)], NOW, rules({})).opened[0]!;
    const late = decideBatch({ ...empty(), records: new Map([[record.requestId, record]]) }, [dec(aDecision(request, 'APPROVED'))], NOW + 61 * S, rules({}));
    expect(late.transitions.map((t) => [t.event.type, t.event.refusalCode])).toEqual([
      ['EXPIRED', null],
      ['DECISION_REFUSED', 'REQUEST_CLOSED'],
    ]);
    expect(late.changed[0]!.status).toBe('EXPIRED');
    expect(late.timers.cleared).toEqual([record.requestId]);
  });

  test('a request that arrives past its dueAt expires as it opens: nobody is asked, its cards stay free, a decision is refused', () => {
    const request = aRequest('LOCK_CARD', { dueAt: NOW - 3600 * S });
    const outcome = decideBatch(empty(), [req(request), dec(aDecision(request, 'APPROVED'))], NOW, rules({}));
    expect(outcome.transitions.map((t) => t.event.type)).toEqual(['OPENED', 'EXPIRED', 'DECISION_REFUSED']);
    expect(outcome.emails.map((e) => e.template)).toEqual(['request-expired']);
    expect(outcome.cardKeys.held).toEqual([]);
    expect(outcome.timers.set).toEqual([]);
  });

  test('a card held by an approval past its expiry is free: the new request opens instead of being refused CARD_BUSY', () => {
    const first = aRequest('LOCK_CARD');
    const record = decideBatch(empty(), [req(first)], NOW, rules({})).opened[0]!;
    const key = `id:${first.cards[0]!.cardId}`;
    const state = { ...empty(), records: new Map([[record.requestId, record]]), cardHolders: new Map([[key, record.requestId]]) };
    const second = aRequest('LOCK_CARD', { cards: first.cards });
    const outcome = decideBatch(state, [req(second)], NOW + 61 * S, rules({}));
    expect(outcome.conflicts).toEqual([]);
    expect(outcome.transitions.map((t) => [t.event.requestId, t.event.type])).toEqual([
      [first.requestId, 'EXPIRED'],
      [second.requestId, 'OPENED'],
    ]);
  });

  test('a redelivered request with another dueAt is a conflicting duplicate', () => {
    const request = aRequest('LOCK_CARD', { dueAt: NOW + 3600 * S });
    const record = decideBatch(empty(), [req(request)], NOW, RULES).opened[0]!;
    const again = decideBatch({ ...empty(), records: new Map([[record.requestId, record]]) }, [req({ ...request, dueAt: null })], NOW, RULES);
    expect(again.conflicts.map((c) => c.detail)).toEqual([`request ${request.requestId} is known with other content (dueAt differ)`]);
  });

  test('reminders missed for a week with second-long intervals are skipped in one step', () => {
    const policy = { ...POLICY, remindAfterMs: 1 * S, remindIntervalMaxMs: 1 * S, expireAfterMs: null, escalateAfterMs: null };
    const record = opened();
    const week = 7 * 86_400 * S;
    const fired = fireTimers(record, scheduleTimers(record, policy)!, NOW + week, policy, 'x.test');
    expect(fired.transitions).toHaveLength(1);
    expect(fired.timers!.remindAt).toBeGreaterThan(NOW + week);
  });

  test('a policy that no longer reminds stops the reminders of approvals opened before it', () => {
    const record = opened();
    const fired = fireTimers(record, scheduleTimers(record, POLICY)!, NOW + 10 * S, { ...POLICY, remindAfterMs: null }, 'x.test');
    expect(fired.transitions).toEqual([]);
    expect(fired.timers?.remindAt).toBeNull();
  });
});

describe('withdrawal', () => {
  test('the requester withdraws: CANCELLED, the approvers get "no longer needed", and the timers are cleared', () => {
    const request = aRequest();
    const withdrawal = aDecision(request, 'WITHDRAWN', { approver: request.requester, actingAs: 'REQUESTER' });
    const outcome = decideBatch(empty(), [req(request), dec(withdrawal)], NOW, RULES);
    expect(outcome.transitions.map((t) => t.event.type)).toEqual(['OPENED', 'CANCELLED']);
    expect(outcome.opened[0]!.status).toBe('CANCELLED');
    expect(outcome.emails.filter((e) => e.template === 'request-withdrawn').map((e) => e.recipient.id)).toEqual(request.approvers.map((p) => p.id));
    expect(outcome.timers.cleared).toEqual([request.requestId]);
  });

  test('an operator withdraws any request, and the requester is told as well', () => {
    const request = aRequest();
    const operator = aPerson('operator');
    const outcome = decideBatch(empty(), [req(request), dec(aDecision(request, 'WITHDRAWN', { approver: operator, actingAs: 'OPERATOR' }))], NOW, RULES);
    expect(outcome.opened[0]!.status).toBe('CANCELLED');
    expect(outcome.emails.filter((e) => e.template === 'request-withdrawn').map((e) => e.recipient.id)).toContain(request.requester.id);
  });

  test.each([
    ['an approver', 'APPROVER'],
    ['someone claiming to be the requester', 'REQUESTER'],
  ] as const)('%s cannot withdraw: refused WITHDRAWAL_NOT_ALLOWED, the request stays pending', (_, actingAs) => {
    const request = aRequest();
    const outcome = decideBatch(empty(), [req(request), dec(aDecision(request, 'WITHDRAWN', { approver: request.approvers[0]!, actingAs }))], NOW, RULES);
    expect(outcome.transitions.map((t) => [t.event.type, t.event.refusalCode])).toEqual([
      ['OPENED', null],
      ['DECISION_REFUSED', 'WITHDRAWAL_NOT_ALLOWED'],
    ]);
    expect(outcome.opened[0]!.status).toBe('PENDING');
  });

  test('a decided request cannot be withdrawn (REQUEST_CLOSED), and a withdrawn one cannot be decided', () => {
    const request = aRequest();
    const approve = aDecision(request, 'APPROVED');
    const withdraw = aDecision(request, 'WITHDRAWN', { approver: request.requester, actingAs: 'REQUESTER' });
    const late = decideBatch(empty(), [req(request), dec(approve), dec(withdraw)], NOW, RULES);
    expect(late.transitions.map((t) => t.event.refusalCode)).toEqual([null, null, 'REQUEST_CLOSED']);
    const early = decideBatch(empty(), [req(request), dec(withdraw), dec({ ...approve, decisionId: 'other' })], NOW, RULES);
    expect(early.transitions.map((t) => t.event.type)).toEqual(['OPENED', 'CANCELLED', 'DECISION_REFUSED']);
    expect(early.opened[0]!.status).toBe('CANCELLED');
  });
});
