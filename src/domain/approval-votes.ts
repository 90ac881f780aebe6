// How many must agree before a request ends: the stages of its policy, the votes cast in them, and
// what one more vote does. Pure; who may vote at all is decided in approval-policy.ts.
import { counted, distinctPeople, eligibleApprovers, reassignmentRefusal, samePerson, type ApprovalPolicy, type Refusal } from './approval-policy';
import type { ApprovalRecord } from './approval';
import type { ApprovalDecision, CardOperationRequest, Person, VoteRule } from './card-operation';

/** A stage of one request: its approvers as resolved when it opened (or reassigned since), and its rule. */
export interface Stage {
  name: string;
  rule: VoteRule;
  approvers: Person[];
}

/** An approval or rejection that counts. Postponing is not a vote. */
export interface Vote {
  /** The stage it was cast in, from 0. */
  stage: number;
  /** Who decided. */
  approver: Person;
  /** The listed approver a delegate decided for, or null. */
  onBehalfOf: Person | null;
  decision: 'APPROVED' | 'REJECTED';
  decisionId: string;
  decidedAt: number;
}

/** Where a request stands in the active stage, for events and the page: "stage 1 of 2, 1 of 2 approvals". */
export interface VoteProgress {
  /** From 1. */
  stage: number;
  stages: number;
  stageName: string;
  approvals: number;
  required: number;
}

/**
 * The stages of a record opened by a version from before stages: one stage under ANY, of the
 * approvers asked (less those who joined by escalation), whose first final decision wins. Such a
 * version leaves `stages` empty, and may still be opening records while a rolling update runs.
 */
export function stagesOfRecordBeforeStages(record: Pick<ApprovalRecord, 'approvers' | 'escalatedTo'>): Stage[] {
  const asked = record.approvers.filter((p) => !record.escalatedTo.some((q) => samePerson(p, q)));
  return [{ name: 'approval', rule: { mode: 'ANY', quorum: null }, approvers: asked }];
}

/** One vote decides: a single stage under ANY (the built-in rule). */
export const decidedByOneVote = (record: Pick<ApprovalRecord, 'stages'>): boolean => record.stages.length === 1 && record.stages[0]!.rule.mode === 'ANY';

/** The people who can still vote in stage `index`: its approvers, less the requester, holders and those who voted in an earlier stage. */
export function stageVoters(record: ApprovalRecord, index: number): Person[] {
  const earlier = counted({ votes: record.votes.filter((v) => v.stage < index) });
  return eligibleApprovers(record, record.stages[index]!.approvers).filter((p) => !earlier.some((q) => samePerson(p, q)));
}

/** Approvals a rule needs from a stage with `voters` eligible people. */
export function votesNeeded(rule: VoteRule, voters: number): number {
  if (rule.mode === 'ANY') return 1;
  if (rule.mode === 'ALL') return Math.max(voters, 1);
  return rule.quorum ?? 1;
}

export function progressOf(record: ApprovalRecord, index = record.stage): VoteProgress {
  const stage = record.stages[index]!;
  return {
    stage: index + 1,
    stages: record.stages.length,
    stageName: stage.name,
    approvals: record.votes.filter((v) => v.stage === index && v.decision === 'APPROVED').length,
    required: votesNeeded(stage.rule, stageVoters(record, index).length),
  };
}

/** Who is asked in stage `index`: its approvers and anyone who joined by escalation. */
export function approversOfStage(record: Pick<ApprovalRecord, 'stages' | 'escalatedTo'>, index: number): Person[] {
  const stage = record.stages[index]!.approvers;
  return [...stage, ...record.escalatedTo.filter((p) => !stage.some((q) => samePerson(p, q)))];
}

/** The current approvers who could decide and have not voted: who reminders and withdrawals tell. */
export function awaitedApprovers(record: ApprovalRecord): Person[] {
  const done = counted(record);
  return eligibleApprovers(record, record.approvers).filter((p) => !done.some((q) => samePerson(p, q)));
}

/** What one more vote does: the request ends, moves to its next stage, or waits for more votes. */
export type VoteEffect = { ends: 'APPROVED' | 'REJECTED' } | { nextStage: number } | { waits: true };

/** The record with `vote` counted (not yet closed or advanced), and what follows from it. */
export function castVote(record: ApprovalRecord, vote: Vote): { record: ApprovalRecord; effect: VoteEffect } {
  const next = { ...record, votes: [...record.votes, vote] };
  if (vote.decision === 'REJECTED') return { record: next, effect: { ends: 'REJECTED' } };
  const progress = progressOf(next);
  if (progress.approvals < progress.required) return { record: next, effect: { waits: true } };
  return { record: next, effect: next.stage + 1 < next.stages.length ? { nextStage: next.stage + 1 } : { ends: 'APPROVED' } };
}

/** The record in stage `index`: its approvers are that stage's, with the escalation group. */
export function enterStage(record: ApprovalRecord, index: number): ApprovalRecord {
  return { ...record, stage: index, approvers: approversOfStage(record, index) };
}

/**
 * Why a reassignment may not be applied: who may reassign whom (approval-policy.ts), and whether
 * every stage still to come could then get the approvals it needs.
 */
export function reassignmentProblem(record: ApprovalRecord, decision: ApprovalDecision): Refusal | null {
  const refusal = reassignmentRefusal(record, decision);
  if (refusal) return refusal;
  const next = reassignStages(record, decision.reassign!.from, decision.reassign!.to);
  const stuck = next.stages.findIndex((_, i) => i >= next.stage && progressOf(next, i).required > stageVoters(next, i).length);
  return stuck < 0 ? null : { code: 'REASSIGNMENT_NOT_ALLOWED', message: `After the reassignment stage ${stuck + 1} could not get the approvals it needs.` };
}

/** `from`'s part in the stages still to come (this one included) goes to `to`; votes stay as cast. */
export function reassignStages(record: ApprovalRecord, from: Person, to: Person): ApprovalRecord {
  const swap = (people: Person[]): Person[] => {
    if (!people.some((p) => samePerson(p, from))) return people;
    const rest = people.filter((p) => !samePerson(p, from));
    return rest.some((p) => samePerson(p, to)) ? rest : [...rest, to];
  };
  const stages = record.stages.map((s, i) => (i < record.stage ? s : { ...s, approvers: swap(s.approvers) }));
  const escalatedTo = swap(record.escalatedTo);
  return { ...record, stages, escalatedTo, approvers: approversOfStage({ stages, escalatedTo }, record.stage) };
}

/**
 * A request's stages under its operation's policy: the policy's own, with `request` stages taking
 * the request's approvers (or the group), or one stage under the request's own rule where the
 * policy allows one. Refused when a stage could never get the approvals it needs.
 */
export function resolveStages(request: CardOperationRequest, asked: Person[], policy: ApprovalPolicy): { stages: Stage[] } | { problem: string } {
  if (request.approvalRule && policy.requestRule === 'deny') {
    return { problem: `${request.operation}'s policy does not let a request set its own approval rule` };
  }
  const stages: Stage[] = request.approvalRule
    ? [{ name: 'approval', rule: request.approvalRule, approvers: asked }]
    : policy.stages.map((s) => ({ name: s.name, rule: s.rule, approvers: s.approvers === 'request' ? asked : distinctPeople(s.approvers) }));
  // A person approves in one stage only: one asked in two could leave the later stage without them.
  for (const [i, stage] of stages.entries()) {
    const twice = stage.approvers.find((p) => stages.slice(i + 1).some((later) => later.approvers.some((q) => samePerson(p, q))));
    if (twice) return { problem: `${twice.id} is asked in more than one stage; a person approves in one stage only` };
  }
  for (const [i, stage] of stages.entries()) {
    const voters = eligibleApprovers(request, stage.approvers).length;
    const needed = votesNeeded(stage.rule, voters);
    if (voters < needed || voters === 0) {
      const which = stages.length > 1 ? `stage ${i + 1} (${stage.name})` : 'the request';
      return { problem: `${which} needs ${needed} approval(s) but has ${voters} approver(s) who may decide (the requester and card holders may not)` };
    }
  }
  return { stages };
}
