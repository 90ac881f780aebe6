// The per-operation policies, as JSON settings (each also from NAME_FILE): who approves
// (APPROVAL_POLICY, APPROVER_GROUPS), when timers fire (APPROVAL_TIMERS), what a second request
// for a busy card does (CARD_CONFLICT_POLICY). The schemas here read the JSON's shape; the rules
// the parsed policies must keep are the domain's (validate-message.ts, approval-timers.ts).
import { z } from 'zod';
import { DEFAULT_APPROVAL_POLICY, type ApprovalPolicy, type StagePolicy } from '../../domain/approval-policy';
import { DEFAULT_TIMER_POLICY, timerPolicyProblems, type TimerPolicies, type TimerPolicy } from '../../domain/approval-timers';
import { CARD_CONFLICT_POLICIES, DEFAULT_CARD_CONFLICT_POLICY, type CardConflictPolicy } from '../../domain/card-conflicts';
import { OPERATIONS, type Operation, type Person, type VoteRule } from '../../domain/card-operation';
import { peopleProblems, ruleProblems, stagePolicyProblems } from '../../domain/validate-message';
import { duration, json, optional, readSettings, type Values } from './settings';

/** An object of these fields only: any other is named ("… is not a setting (a, b)"). */
const fieldsOnly = <S extends z.ZodRawShape>(shape: S) =>
  z.strictObject(shape, { error: (issue) => (issue.code === 'unrecognized_keys' ? `is not a setting (${Object.keys(shape).join(', ')})` : undefined) });

/** An object keyed by operation (and `default`, where `withDefault`): any other key is named. */
export const byOperation = <T extends z.ZodType>(entry: T, withDefault = false) => {
  const keys = withDefault ? ['default', ...OPERATIONS] : [...OPERATIONS];
  const shape = Object.fromEntries(keys.map((k) => [k, entry.optional()])) as Record<Operation | 'default', z.ZodOptional<T>>;
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `is not an operation (${keys.join(', ')})` : issue.code === 'invalid_type' ? 'must be a JSON object keyed by operation' : undefined),
  });
};

const person = z
  .object({ id: z.string(), name: z.string(), email: z.string(), locale: z.string().nullable().optional() }, { error: 'must be { id, name, email, locale? }' })
  .transform((p): Person => ({ id: p.id, name: p.name, email: p.email, locale: p.locale ?? null }));
const people = z.array(person, { error: 'must be an array of { id, name, email, locale? }' });

const RULE = /^(ANY|ALL|QUORUM\s+(\d{1,3}))$/;
/** A rule as configured: "ANY", "ALL" or "QUORUM n". */
const rule = z
  .string({ error: 'must be "ANY", "ALL" or "QUORUM n"' })
  .transform((v) => v.trim())
  .refine((v) => RULE.test(v), { error: 'must be "ANY", "ALL" or "QUORUM n"' })
  .transform((v): VoteRule => {
    const [, mode, quorum] = RULE.exec(v)!;
    return quorum ? { mode: 'QUORUM', quorum: Number(quorum) } : { mode: mode as 'ANY' | 'ALL', quorum: null };
  });

const allowOrDeny = z.enum(['allow', 'deny'], { error: 'must be "allow" or "deny"' });
const stage = fieldsOnly({ name: z.string({ error: 'must be a name' }), rule: rule.optional(), approvers: z.union([z.literal('request'), people], { error: 'must be "request" or an array of { id, name, email, locale? }' }).optional() });
const stages = z.array(stage, { error: 'must be an array of 1 to 10 stages { name, rule, approvers }' }).min(1, { error: 'must be an array of 1 to 10 stages { name, rule, approvers }' }).max(10, { error: 'must be an array of 1 to 10 stages { name, rule, approvers }' });
const policyEntry = fieldsOnly({ fromRequest: allowOrDeny.optional(), requestRule: allowOrDeny.optional(), rule: rule.optional(), stages: stages.optional() }).refine(
  (p) => p.rule === undefined || p.stages === undefined,
  { error: 'sets rule or stages, not both' },
);

const TIMERS = { min: 1000, max: 366 * 86_400_000 };
const timerDuration = duration(TIMERS.min, TIMERS.max);
const orNever = z.union([z.null(), timerDuration], { error: `must be a duration from 1s to 366d such as "90s", "4h" or "3d", or null for never` });
const timerEntry = fieldsOnly({ remindAfter: orNever.optional(), remindIntervalMax: timerDuration.optional(), escalateAfter: orNever.optional(), escalateTo: people.optional(), expireAfter: orNever.optional() });

export const POLICY_SETTINGS = {
  APPROVER_GROUPS: optional({
    kind: 'JSON: { "LOCK_CARD": [{ "id", "name", "email", "locale"? }] }',
    doc: 'Approvers per operation, asked when a request names none (or, under fromRequest deny, always).',
    schema: json(byOperation(people)),
    file: true,
  }),
  APPROVAL_POLICY: optional({
    kind: 'JSON per operation (and "default"): { fromRequest, requestRule, rule | stages }',
    doc: 'Who approves and how many must agree: `rule` ("ANY", "ALL", "QUORUM n") is one stage of the request\'s approvers; `stages` ([{ name, rule, approvers: "request" | [people] }]) are asked in order; `fromRequest` allow|deny asks or ignores the approvers a request names; `requestRule` allow|deny lets a request set its own rule. An operation\'s entry overrides "default", which overrides ANY over the request\'s approvers.',
    schema: json(byOperation(policyEntry, true)),
    file: true,
  }),
  APPROVAL_TIMERS: optional({
    kind: 'JSON per operation (and "default"): { remindAfter, remindIntervalMax, escalateAfter, escalateTo, expireAfter }',
    doc: 'When pending approvals are reminded (at doubling intervals up to remindIntervalMax), escalated to escalateTo, and expired. Durations such as "90s", "4h", "3d", or null for never. Built in: remind after 24h, intervals up to 72h, expire after 14d, no escalation.',
    schema: json(byOperation(timerEntry, true)),
    file: true,
  }),
  CARD_CONFLICT_POLICY: optional({
    kind: `JSON: { "LOCK_CARD": "${CARD_CONFLICT_POLICIES.join('" | "')}" }`,
    doc: `What a request for a card that already has a pending approval does: refuse (dead-lettered CARD_BUSY) or supersede the pending one. Built in: ${Object.entries(DEFAULT_CARD_CONFLICT_POLICY).map(([op, p]) => `${op} ${p}`).join(', ')}.`,
    schema: json(byOperation(z.enum(CARD_CONFLICT_POLICIES as [CardConflictPolicy, ...CardConflictPolicy[]], { error: `must be ${CARD_CONFLICT_POLICIES.join(' or ')}` }))),
    file: true,
  }),
};

export interface Policies {
  approverGroups: Partial<Record<Operation, Person[]>>;
  /** Per operation: whether approvers a request names are asked, or only the configured group. */
  approvalPolicies: Record<Operation, ApprovalPolicy>;
  /** What a new request does to a card that already has a pending approval, per operation. */
  cardConflictPolicy: Record<Operation, CardConflictPolicy>;
  /** When pending approvals are reminded, escalated and expired, per operation. */
  timerPolicies: TimerPolicies;
}

/**
 * Each operation's entry over "default", over the built-in policy; and what each entry given
 * yields where it applies (for its checks): "default" over the built-in, an operation's over that.
 */
function perOperation<E, P>(entries: Partial<Record<Operation | 'default', E>> | undefined, builtIn: P, apply: (entry: E, base: P) => P) {
  const fallback = entries?.default === undefined ? builtIn : apply(entries.default, builtIn);
  const byOperation = Object.fromEntries(OPERATIONS.map((op) => [op, entries?.[op] === undefined ? fallback : apply(entries[op], fallback)])) as Record<Operation, P>;
  const given = Object.keys(entries ?? {}) as Array<Operation | 'default'>;
  return { byOperation, applied: given.map((key) => [key, key === 'default' ? fallback : byOperation[key]] as const) };
}

export function readPolicies(env: NodeJS.ProcessEnv, problems: string[]): Policies {
  const v: Values<typeof POLICY_SETTINGS> = readSettings(POLICY_SETTINGS, env, false, problems);
  const approverGroups = v.APPROVER_GROUPS ?? {};
  for (const [op, members] of Object.entries(approverGroups)) problems.push(...peopleProblems(`APPROVER_GROUPS.${op}`, members));

  const approval = perOperation(v.APPROVAL_POLICY, DEFAULT_APPROVAL_POLICY, (entry, base): ApprovalPolicy => ({
    fromRequest: entry.fromRequest ?? base.fromRequest,
    requestRule: entry.requestRule ?? base.requestRule,
    stages: entry.rule
      ? [{ name: 'approval', rule: entry.rule, approvers: 'request' }]
      : (entry.stages?.map((s): StagePolicy => ({ name: s.name.trim(), rule: s.rule ?? { mode: 'ANY', quorum: null }, approvers: s.approvers ?? 'request' })) ?? base.stages),
  }));
  for (const [key, policy] of approval.applied) {
    const entry = v.APPROVAL_POLICY![key]!;
    if (entry.rule) problems.push(...ruleProblems(`APPROVAL_POLICY.${key}.rule`, entry.rule));
    if (entry.stages) problems.push(...stagePolicyProblems(`APPROVAL_POLICY.${key}.stages`, policy.stages));
  }

  const timers = perOperation(v.APPROVAL_TIMERS, DEFAULT_TIMER_POLICY, (entry, base): TimerPolicy => ({
    remindAfterMs: entry.remindAfter === undefined ? base.remindAfterMs : entry.remindAfter,
    remindIntervalMaxMs: entry.remindIntervalMax ?? base.remindIntervalMaxMs,
    escalateAfterMs: entry.escalateAfter === undefined ? base.escalateAfterMs : entry.escalateAfter,
    escalateTo: entry.escalateTo ?? base.escalateTo,
    expireAfterMs: entry.expireAfter === undefined ? base.expireAfterMs : entry.expireAfter,
  }));
  for (const [key, policy] of timers.applied) problems.push(...timerPolicyProblems(`APPROVAL_TIMERS.${key}`, policy));

  const cardConflictPolicy = { ...DEFAULT_CARD_CONFLICT_POLICY, ...v.CARD_CONFLICT_POLICY } as Record<Operation, CardConflictPolicy>;
  return { approverGroups, approvalPolicies: approval.byOperation, cardConflictPolicy, timerPolicies: timers.byOperation };
}
