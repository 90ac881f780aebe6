// Use case: erase one person (GDPR Article 17). Their pending approvals end or move first, by the
// rule below, with the same domain folding the consumer applies to decisions; then every row that
// names them is rewritten to one pseudonym, in the same transaction, so no event or email leaves
// with their name after the commit. Running it again finds nobody and changes nothing.
//
// The rule for pending approvals:
// - the person is the requester or a card holder: the approval is withdrawn (CANCELLED), reason "erased";
// - the person is an approver: their part goes to the first member of the operation's approver
//   group who may take it (four-eyes, not already asked); with no group, or nobody in it who may,
//   the approval is withdrawn with the reason ERASED_NO_APPROVER_LEFT.
import { randomUUID } from 'node:crypto';
import type { ApprovalRecord } from './approval';
import { samePerson } from './approval-policy';
import { personOf, reassignmentBy, type Identity } from './callers';
import type { ApprovalDecision, Operation, Person } from './card-operation';
import { decideBatch, type BatchRules } from './decide-batch';
import type { PersonalDataRepository } from './ports';

/** Every id, email address and name one person appears with (ids and emails lower-cased). */
export interface PersonIdentities {
  ids: string[];
  emails: string[];
  names: string[];
}

export const ERASED_REASON = 'erased';
export const ERASED_NO_APPROVER_LEFT = 'erased: nobody in the group could take over their part';

/** The pseudonym of the n-th person erased: one for all their rows, so every history still reads. */
export const pseudonymOf = (n: number): Person => ({ id: `erased-person-${n}`, name: `erased person ${n}`, email: `erased-person-${n}@erased.invalid`, locale: null });

export const isThePerson = (person: PersonIdentities, p: Pick<Person, 'id' | 'email'>): boolean =>
  person.ids.includes(p.id.toLowerCase()) || person.emails.includes(p.email.toLowerCase());

export interface ErasureReport {
  /** The pseudonym now standing for them; null when nothing named them (erased before, or never here). */
  pseudonym: Person | null;
  /** Pending approvals withdrawn because they were the requester or a holder, or no approver was left. */
  withdrawn: string[];
  /** Pending approvals whose part of theirs went to a member of the operation's group. */
  reassigned: Array<{ requestId: string; to: string }>;
  /** Rows rewritten, by `table.column`. */
  rows: Record<string, number>;
  /** Emails to them not yet sent, dropped. */
  emailsDropped: number;
}

/** What erasure does to the pending approvals `person` has a part in (see the rule above). */
export function erasureDecisions(records: ApprovalRecord[], person: PersonIdentities, operator: Identity, groups: Partial<Record<Operation, Person[]>>, now: number): ApprovalDecision[] {
  const withdrawal = (record: ApprovalRecord, reason: string): ApprovalDecision => ({
    decisionId: randomUUID(),
    requestId: record.requestId,
    decision: 'WITHDRAWN',
    approver: personOf(operator),
    reason,
    decidedAt: now,
    actingAs: 'OPERATOR',
    cardOutcomes: [],
    reassign: null,
  });
  return records
    .filter((r) => r.status === 'PENDING')
    .flatMap((record) => {
      if (isThePerson(person, record.requester) || record.cards.some((c) => isThePerson(person, c.holder))) return [withdrawal(record, ERASED_REASON)];
      const part = [...record.stages.slice(record.stage).flatMap((s) => s.approvers), ...record.escalatedTo].find((p) => isThePerson(person, p));
      if (!part) return [];
      for (const member of groups[record.operation] ?? []) {
        if (isThePerson(person, member) || samePerson(member, record.requester)) continue;
        const taken = reassignmentBy(record, operator, part.id, member, now);
        if ('decision' in taken) return [taken.decision];
      }
      return [withdrawal(record, ERASED_NO_APPROVER_LEFT)];
    });
}

export interface ErasePersonDeps {
  personalData: PersonalDataRepository;
  rules: BatchRules;
  approverGroups: Partial<Record<Operation, Person[]>>;
}

export type ErasePerson = (who: string, operator: Identity, now?: number) => Promise<ErasureReport>;

export function erasePerson({ personalData, rules, approverGroups }: ErasePersonDeps): ErasePerson {
  return (who, operator, now = Date.now()) =>
    personalData.inTransaction(async (tx) => {
      const person = await tx.identify(who);
      if (!person) return { pseudonym: null, withdrawn: [], reassigned: [], rows: {}, emailsDropped: 0 };
      // Every request naming them is locked, so no batch changes one while its rows are rewritten.
      await tx.lockRequests(await tx.requestsNaming(person), []);
      const pending = await tx.pendingNaming(person);
      const { state } = await tx.load(pending, [], []);
      const decisions = erasureDecisions([...state.records.values()], person, operator, approverGroups, now);
      const outcome = decideBatch(state, decisions.map((decision) => ({ kind: 'decision', decision })), now, rules);
      // The events are published by the outbox relay after the commit, by then under the pseudonym.
      await tx.save(outcome, [], now);
      const applied = new Set(outcome.decisions.filter((d) => d.result === 'APPLIED').map((d) => d.decision.decisionId));
      const pseudonym = pseudonymOf(await tx.nextPseudonym());
      const { rows, emailsDropped } = await tx.pseudonymise(person, pseudonym);
      const done = decisions.filter((d) => applied.has(d.decisionId));
      return {
        pseudonym,
        withdrawn: done.filter((d) => d.decision === 'WITHDRAWN').map((d) => d.requestId),
        reassigned: done.filter((d) => d.reassign).map((d) => ({ requestId: d.requestId, to: d.reassign!.to.id })),
        rows,
        emailsDropped,
      };
    });
}
