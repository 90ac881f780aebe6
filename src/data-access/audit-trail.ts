// The audit trail's reads: each request's history with its chain, read in one statement with the
// keys its digests name, for the domain to recompute (src/domain/audit-chain.ts); the decisions
// the history holds, for an export; each request's newest hash as of a day's end, to publish. The
// facts a hash covers are read with the very expressions the trigger hashes (CHAIN_FACTS).
import type { DataSource } from 'typeorm';
import { verifyChain, type ChainReport, type StoredEntry } from '../domain/audit-chain';
import { CHAIN_FACTS } from './migrations/1765400000000-audit-chain';

/** Which requests one verification covers: one, those with an entry since a time, or all; by request id, after `after`. */
export interface VerificationScope {
  requestId?: string;
  /** Epoch ms. */
  since?: number;
  after?: string;
}

export interface VerificationLimits {
  /** The most requests verified in one call. */
  requests: number;
  /** Fewer requests when their histories pass this many entries together (a request's history is always verified whole). */
  entries: number;
}

/** One decision the history holds: who decided what, when, and for whom. */
export interface DecisionRecord {
  eventId: string;
  requestId: string;
  /** The request's operation; null when its record is gone or never came. */
  operation: string | null;
  /** The event the decision made (APPROVED, VOTED, DECISION_REFUSED …). */
  type: string;
  decision: string | null;
  decisionId: string | null;
  deciderId: string | null;
  deciderName: string | null;
  actingAs: string | null;
  /** The listed approver a delegate decided for. */
  onBehalfOfId: string | null;
  onBehalfOfName: string | null;
  /** The decider's own reason. */
  reason: string | null;
  refusalCode: string | null;
  /** When the decider decided (their clock), ISO 8601; null if the event does not say. */
  decidedAt: string | null;
  /** When the worker applied it, ISO 8601. */
  occurredAt: string;
}

/** Where a page of the export ended: the last row's time (to the microsecond) and seq. */
export interface ExportPosition {
  occurredAt: string;
  seq: string;
}

/** A request's newest entry as of a time. */
export interface ChainHead {
  requestId: string;
  seq: string;
  eventId: string;
  hash: string | null;
  occurredAt: string;
}

const EXACT_TIME = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const iso = (ms: number): string => new Date(ms).toISOString();

interface EntryRow { request_id: string; prev_hash: string | null; hash: string | null; redacted: boolean; has_actor: boolean; actor_id: string | null; actor_name: string | null; actor_email: string | null; reason: string | null; key: Buffer | null; has_record: boolean }

export class AuditTrail {
  constructor(private readonly dataSource: DataSource) {}

  /** Verifies the chains of the requests in scope, a bounded number a call; `next` continues after the last (null: no more). */
  async verify(scope: VerificationScope, limits: VerificationLimits): Promise<{ reports: ChainReport[]; next: string | null }> {
    const candidates = await this.requestsInScope(scope, limits.requests + 1);
    const ids: string[] = [];
    let entries = 0;
    for (const c of candidates.slice(0, limits.requests)) {
      if (ids.length > 0 && entries + c.entries > limits.entries) break;
      ids.push(c.requestId);
      entries += c.entries;
    }
    const reports = await this.chainsOf(ids);
    // More follow when the bound or the entries cut the candidates short.
    const next = ids.length < candidates.length ? ids.at(-1)! : null;
    return { reports, next };
  }

  /** The request ids in scope after `scope.after`, in id order, with how many entries each has. */
  private async requestsInScope(scope: VerificationScope, limit: number): Promise<Array<{ requestId: string; entries: number }>> {
    const params: unknown[] = [scope.after ?? '', limit];
    let ids: string;
    if (scope.requestId !== undefined) {
      params.push(scope.requestId);
      ids = `SELECT request_id FROM approval_history WHERE request_id = $3 AND request_id > $1 LIMIT least($2, 1)`;
    } else if (scope.since !== undefined) {
      // By the index of the history by time: each page reads the entries since then again (a day's are few; since long ago, use no filter).
      params.push(iso(scope.since));
      ids = `SELECT DISTINCT request_id FROM approval_history WHERE occurred_at >= $3 AND request_id > $1 ORDER BY request_id LIMIT $2`;
    } else {
      // One probe of the request index per id, however many entries each has.
      ids = `WITH RECURSIVE ids AS (
          (SELECT request_id FROM approval_history WHERE request_id > $1 ORDER BY request_id LIMIT 1)
          UNION ALL
          SELECT (SELECT h.request_id FROM approval_history h WHERE h.request_id > ids.request_id ORDER BY h.request_id LIMIT 1) FROM ids WHERE ids.request_id IS NOT NULL)
        SELECT request_id FROM ids WHERE request_id IS NOT NULL LIMIT $2`;
    }
    const rows: Array<{ request_id: string; entries: number }> = await this.dataSource.query(
      `SELECT i.request_id, (SELECT count(*)::int FROM approval_history h WHERE h.request_id = i.request_id) AS entries
       FROM (${ids}) AS i ORDER BY i.request_id`,
      params,
    );
    return rows.map((r) => ({ requestId: r.request_id, entries: r.entries }));
  }

  /** The chains of these requests, read in one statement (one snapshot), with the keys their digests name. */
  private async chainsOf(requestIds: string[]): Promise<ChainReport[]> {
    if (requestIds.length === 0) return [];
    const rows: EntryRow[] = await this.dataSource.query(
      `SELECT ${CHAIN_FACTS.map(([name, fact]) => `${fact('h')} AS "${name}"`).join(', ')},
              h.request_id, h.prev_hash, h.hash, h.redacted_at IS NOT NULL AS redacted,
              jsonb_typeof(h.actor) = 'object' AS has_actor, h.actor->>'id' AS actor_id, h.actor->>'name' AS actor_name, h.actor->>'email' AS actor_email,
              h.reason, k.key, EXISTS (SELECT 1 FROM approval_requests r WHERE r.request_id = h.request_id) AS has_record
       FROM approval_history h LEFT JOIN audit_person_keys k ON k.key_id = h.digest_key
       WHERE h.request_id = ANY($1) ORDER BY h.request_id, h.seq`,
      [requestIds],
    );
    const byRequest = new Map<string, { entries: StoredEntry[]; hasRecord: boolean }>();
    for (const row of rows) {
      const chain = byRequest.get(row.request_id) ?? { entries: [], hasRecord: row.has_record };
      byRequest.set(row.request_id, chain);
      chain.entries.push(entryOf(row));
    }
    return [...byRequest].map(([requestId, chain]) => verifyChain(requestId, chain.entries, !chain.hasRecord));
  }

  /** The decisions applied since `since` (epoch ms), oldest first, after `after`; at most `limit`, and where the next page starts. */
  async decisions(since: number, after: ExportPosition | undefined, limit: number): Promise<{ items: DecisionRecord[]; next: ExportPosition | null }> {
    const params: unknown[] = [iso(since), limit + 1];
    if (after) params.push(after.occurredAt, after.seq);
    const rows: Array<Record<string, string | null> & { occurred_at: Date; position_time: string; seq: string }> = await this.dataSource.query(
      `SELECT h.seq::text AS seq, h.event_id, h.request_id, r.operation, h.type, h.decision->>'decision' AS decision, h.decision->>'decisionId' AS decision_id,
              h.decision->'approver'->>'id' AS decider_id, h.decision->'approver'->>'name' AS decider_name, h.decision->>'actingAs' AS acting_as,
              h.decision->'onBehalfOf'->>'id' AS on_behalf_of_id, h.decision->'onBehalfOf'->>'name' AS on_behalf_of_name,
              h.decision->>'reason' AS reason, h.refusal_code, h.decision->>'decidedAt' AS decided_at, h.occurred_at, ${EXACT_TIME('h.occurred_at')} AS position_time
       FROM approval_history h LEFT JOIN approval_requests r ON r.request_id = h.request_id
       WHERE h.occurred_at >= $1 AND h.decision IS NOT NULL ${after ? 'AND (h.occurred_at, h.seq) > ($3::timestamptz, $4::bigint)' : ''}
       ORDER BY h.occurred_at, h.seq LIMIT $2`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const decidedAt = (value: string | null): string | null => {
      const ms = value === null ? NaN : Number(value);
      return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? iso(ms) : null;
    };
    return {
      items: page.map((r) => ({
        eventId: r.event_id!,
        requestId: r.request_id!,
        operation: r.operation ?? null,
        type: r.type!,
        decision: r.decision ?? null,
        decisionId: r.decision_id ?? null,
        deciderId: r.decider_id ?? null,
        deciderName: r.decider_name ?? null,
        actingAs: r.acting_as ?? null,
        onBehalfOfId: r.on_behalf_of_id ?? null,
        onBehalfOfName: r.on_behalf_of_name ?? null,
        reason: r.reason ?? null,
        refusalCode: r.refusal_code ?? null,
        decidedAt: decidedAt(r.decided_at ?? null),
        occurredAt: new Date(r.occurred_at).toISOString(),
      })),
      next: rows.length > limit && last ? { occurredAt: last.position_time, seq: last.seq } : null,
    };
  }

  /**
   * The newest entry (by seq) of each request with an entry in [from, to) (epoch ms), among those
   * stored before `to`: the heads to publish for that day. By request id, after `after`; at most `limit`.
   */
  async heads(from: number, to: number, after: string | undefined, limit: number): Promise<{ items: ChainHead[]; next: string | null }> {
    const rows: Array<{ request_id: string; seq: string; event_id: string; hash: string | null; occurred_at: string }> = await this.dataSource.query(
      `SELECT DISTINCT ON (h.request_id) h.request_id, h.seq::text AS seq, h.event_id, h.hash, ${EXACT_TIME('h.occurred_at')} AS occurred_at
       FROM approval_history h
       WHERE h.request_id IN (SELECT DISTINCT request_id FROM approval_history WHERE occurred_at >= $1 AND occurred_at < $2 AND request_id > $3 ORDER BY request_id LIMIT $4)
         AND h.occurred_at < $2
       ORDER BY h.request_id, h.seq DESC`,
      [iso(from), iso(to), after ?? '', limit + 1],
    );
    const page = rows.slice(0, limit);
    return {
      items: page.map((r) => ({ requestId: r.request_id, seq: r.seq, eventId: r.event_id, hash: r.hash, occurredAt: r.occurred_at })),
      next: rows.length > limit ? (page.at(-1)?.request_id ?? null) : null,
    };
  }
}

function entryOf(row: EntryRow): StoredEntry {
  // The facts, under their names in CHAIN_FACTS.
  const fact = (name: string): string | null => (row as unknown as Record<string, string | null>)[name] ?? null;
  return {
    seq: fact('seq')!,
    eventId: fact('eventId')!,
    requestId: fact('requestId')!,
    type: fact('type')!,
    statusBefore: fact('statusBefore'),
    statusAfter: fact('statusAfter'),
    decisionKind: fact('decisionKind'),
    decisionId: fact('decisionId'),
    refusalCode: fact('refusalCode'),
    occurredAt: fact('occurredAt')!,
    digestKey: fact('digestKey'),
    actorDigest: fact('actorDigest'),
    reasonDigest: fact('reasonDigest'),
    prevHash: row.prev_hash,
    hash: row.hash,
    actor: row.has_actor ? { id: row.actor_id, name: row.actor_name, email: row.actor_email } : null,
    reason: row.reason,
    key: row.key,
    redacted: row.redacted,
  };
}
