// What the use cases need from the outside world, as small interfaces. The data-access layer
// implements them; the domain never imports it.
import type { ApprovalEvent } from './approval';
import type { ApprovalDecision, Person } from './card-operation';
import type { PersonIdentities } from './erase-person';
import type { Timers } from './approval-timers';
import type { BatchOutcome, BatchState } from './decide-batch';

/** What a batch's transaction locks and reads. */
export interface BatchScope {
  requestIds: string[];
  decisionIds: string[];
  cardKeys: string[];
  /** The batch's deciders, whose delegations are read. */
  deciders: Array<{ id: string; email: string }>;
  /** The ids of the people the batch records acting: its requesters and its deciders. */
  actors: string[];
}

/** Due timers leased to this process: the token proves the lease is still its own. */
export interface TimerClaim {
  requestId: string;
  token: string;
  /** How many times these timers were claimed without firing, this claim included. */
  attempts: number;
}

/** One database transaction over approvals; everything in it commits or nothing does. */
export interface ApprovalTransaction {
  /** Serialises work on these requests and card keys across transactions and processes until the commit. */
  lockRequests(requestIds: string[], cardKeys: string[]): Promise<void>;
  /**
   * The state the batch folds over (with the pending approvals holding `cardKeys`, locked as
   * well, and the delegations to `deciders`), and the requests that still have an event not yet
   * published.
   */
  load(requestIds: string[], decisionIds: string[], cardKeys: string[], deciders?: Array<{ id: string; email: string }>): Promise<{ state: BatchState; withUnpublishedEvents: Set<string> }>;
  /** Requests with a decision waiting since before `cutoff` for a request that never came. */
  requestsAwaitedSince(cutoff: number, limit: number): Promise<string[]>;
  /** Those decisions (of `requestIds`, still without a record), with when each was received. */
  decisionsAwaitingMissingRequests(requestIds: string[], cutoff: number): Promise<Array<{ decision: ApprovalDecision; receivedAt: number }>>;
  /** The timers of these claims that are still leased by them (and so not fired or cleared since). */
  claimedTimers(claims: TimerClaim[]): Promise<Timers[]>;
  /**
   * Stores what happened: records, decisions, and the events and emails to send (the outboxes).
   * Events named in `claimedEventIds` are leased to this process, which publishes them itself.
   */
  save(outcome: BatchOutcome, claimedEventIds: string[], now: number): Promise<void>;
}

export interface ApprovalRepository {
  inTransaction<T>(work: (tx: ApprovalTransaction) => Promise<T>): Promise<T>;
  /**
   * A batch in one transaction: locks the scope's requests and card keys, reads the state,
   * folds it with `decide`, and stores the outcome with its events and emails. Returns the
   * outcome, and the events this process may publish at once: those of requests with no older
   * event still unpublished (it holds their lease; the others the outbox relay publishes in order).
   */
  applyBatch(scope: BatchScope, decide: (state: BatchState) => BatchOutcome, now: number): Promise<{ outcome: BatchOutcome; publishNow: ApprovalEvent[] }>;
  /** Leases timers due at `now` (at most `limit`) to this process for `leaseMs`. */
  claimDueTimers(now: number, limit: number, leaseMs: number): Promise<TimerClaim[]>;
  /** Sets aside timers that keep failing on their own, with the reason. */
  parkTimer(claim: TimerClaim, reason: string): Promise<void>;
}

/**
 * Takes committed events this process may publish at once (it holds their lease), and whether
 * the same commit left others in the outbox's queue (behind an older event of their request).
 */
export type PublishAfterCommit = (events: ApprovalEvent[], leftQueued: boolean) => void;

/** One transaction of an erasure: the approval transaction's work, and finding and rewriting a person's rows. */
export interface PersonalDataTransaction extends ApprovalTransaction {
  /** Everyone `who` (an id or an email address) is, as the stored rows name them; null when none does. */
  identify(who: string): Promise<PersonIdentities | null>;
  /** The requests whose record names them. */
  requestsNaming(person: PersonIdentities): Promise<string[]>;
  /** Those still pending. */
  pendingNaming(person: PersonIdentities): Promise<string[]>;
  /** The number of the next pseudonym. */
  nextPseudonym(): Promise<number>;
  /** Every row naming them rewritten to `pseudonym`, and emails to them not yet sent dropped. */
  pseudonymise(person: PersonIdentities, pseudonym: Person): Promise<{ rows: Record<string, number>; emailsDropped: number }>;
}

export interface PersonalDataRepository {
  inTransaction<T>(work: (tx: PersonalDataTransaction) => Promise<T>): Promise<T>;
}
