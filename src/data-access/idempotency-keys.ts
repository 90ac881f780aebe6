// The API's idempotency keys: a caller's key is claimed by its first call, holds that call's answer
// once it has one, and is removed when it expires.
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';

/** A stored answer, given again to a call that repeats its key. */
export interface StoredAnswer {
  status: number;
  type: string | null;
  body: string;
}

/** What a call with a key finds: the key is its own now, or it was used before. */
export type Claim =
  | { kind: 'claimed'; claimId: string }
  | { kind: 'answered'; answer: StoredAnswer }
  | { kind: 'in-flight' }
  | { kind: 'other-call' };

type Row = { fingerprint: string; answer_status: number | null; answer_type: string | null; answer_body: string | null };

export class IdempotencyKeys {
  constructor(
    private readonly dataSource: DataSource,
    private readonly ttlMs: number,
    /** A claim without an answer after this long is taken to be a crashed call's, and may be taken over. */
    private readonly abandonedAfterMs: number,
  ) {}

  async claim(callerId: string, key: string, fingerprint: string): Promise<Claim> {
    for (;;) {
      const claimId = randomUUID();
      const claimed: unknown[] = await this.dataSource.query(
        `INSERT INTO idempotency_keys AS k (caller_id, key, fingerprint, claim_id, expires_at)
         VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond')
         ON CONFLICT (caller_id, key) DO UPDATE
           SET fingerprint = excluded.fingerprint, claim_id = excluded.claim_id, claimed_at = now(), expires_at = excluded.expires_at,
               answer_status = NULL, answer_type = NULL, answer_body = NULL
           WHERE k.expires_at <= now() OR (k.answer_status IS NULL AND k.fingerprint = excluded.fingerprint AND k.claimed_at <= now() - $6 * interval '1 millisecond')
         RETURNING 1`,
        [callerId, key, fingerprint, claimId, this.ttlMs, this.abandonedAfterMs],
      );
      if (claimed.length > 0) return { kind: 'claimed', claimId };
      const [row]: Row[] = await this.dataSource.query(`SELECT fingerprint, answer_status, answer_type, answer_body FROM idempotency_keys WHERE caller_id = $1 AND key = $2`, [callerId, key]);
      // Removed in between (it had expired): claim it again.
      if (!row) continue;
      if (row.fingerprint !== fingerprint) return { kind: 'other-call' };
      if (row.answer_status === null) return { kind: 'in-flight' };
      return { kind: 'answered', answer: { status: row.answer_status, type: row.answer_type, body: row.answer_body ?? '' } };
    }
  }

  /** Keeps the answer of the call that holds the claim. */
  async answer(callerId: string, key: string, claimId: string, answer: StoredAnswer): Promise<void> {
    await this.dataSource.query(`UPDATE idempotency_keys SET answer_status = $4, answer_type = $5, answer_body = $6 WHERE caller_id = $1 AND key = $2 AND claim_id = $3`, [
      callerId,
      key,
      claimId,
      answer.status,
      answer.type,
      answer.body,
    ]);
  }

  /** Gives the key back (the call could not be served now): a retry runs it again. */
  async release(callerId: string, key: string, claimId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM idempotency_keys WHERE caller_id = $1 AND key = $2 AND claim_id = $3`, [callerId, key, claimId]);
  }

  /** Removes up to `limit` expired keys, skipping any a call holds now; how many it removed. */
  async removeExpired(limit: number): Promise<number> {
    const removed: unknown[] = await this.dataSource.query(
      `WITH removed AS (
         DELETE FROM idempotency_keys WHERE (caller_id, key) IN (SELECT caller_id, key FROM idempotency_keys WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING 1)
       SELECT * FROM removed`,
      [limit],
    );
    return removed.length;
  }
}
