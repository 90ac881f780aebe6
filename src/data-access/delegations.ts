// Delegations: an approver's stand-in for a period. The API writes them (they are who may decide,
// not the state of any approval); the worker reads those in force when a delegate decides.
import type { DataSource } from 'typeorm';
import type { Delegation } from '../domain/approval-policy';
import type { Person } from '../domain/card-operation';
import { delegationFromRow } from './approval-store';

/** A delegation as kept: with who set it up and, once revoked, who revoked it. */
export interface DelegationEntry extends Delegation {
  createdBy: Person;
  createdAt: number;
  revokedBy: Person | null;
  revokedAt: number | null;
}

type Row = Parameters<typeof delegationFromRow>[0] & { created_by: Person; created_at: string; revoked_by: Person | null; revoked_at: string | null };

const entryFromRow = (row: Row): DelegationEntry => ({
  ...delegationFromRow(row),
  createdBy: row.created_by,
  createdAt: new Date(row.created_at).getTime(),
  revokedBy: row.revoked_by,
  revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at).getTime(),
});

export class Delegations {
  constructor(private readonly dataSource: DataSource) {}

  /** Sets up a delegation with the id given; one with that id set up before is given back as it is. */
  async create(delegationId: string, d: Omit<Delegation, 'delegationId'>, by: Person): Promise<DelegationEntry> {
    await this.dataSource.query(
      `INSERT INTO approval_delegations (delegation_id, approver, delegate, starts_at, ends_at, created_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delegation_id) DO NOTHING`,
      [delegationId, JSON.stringify(d.approver), JSON.stringify(d.delegate), new Date(d.startsAt).toISOString(), new Date(d.endsAt).toISOString(), JSON.stringify(by)],
    );
    return (await this.get(delegationId))!;
  }

  async get(delegationId: string): Promise<DelegationEntry | undefined> {
    const rows: Row[] = await this.dataSource.query(`SELECT * FROM approval_delegations WHERE delegation_id::text = lower($1)`, [delegationId]);
    return rows[0] && entryFromRow(rows[0]);
  }

  /** Revokes a delegation not revoked yet; false when it already was. */
  async revoke(delegationId: string, by: Person): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `WITH revoked AS (UPDATE approval_delegations SET revoked_at = now(), revoked_by = $2 WHERE delegation_id::text = lower($1) AND revoked_at IS NULL RETURNING 1) SELECT * FROM revoked`,
      [delegationId, JSON.stringify(by)],
    );
    return rows.length > 0;
  }

  /** Delegations not yet ended (revoked ones included, as history) from or to this person; every one for `undefined`. */
  async list(personId: string | undefined, limit = 200): Promise<DelegationEntry[]> {
    const rows: Row[] = await this.dataSource.query(
      `SELECT * FROM approval_delegations
        WHERE ends_at > now() AND ($1::text IS NULL OR lower(approver->>'id') = lower($1) OR lower(delegate->>'id') = lower($1))
        ORDER BY created_at DESC LIMIT $2`,
      [personId ?? null, limit],
    );
    return rows.map(entryFromRow);
  }

  /** Delegations in force now to this person (by id or email): whom they stand in for. */
  async inForceTo(person: Pick<Person, 'id' | 'email'>): Promise<Delegation[]> {
    const rows: Row[] = await this.dataSource.query(
      `SELECT * FROM approval_delegations
        WHERE revoked_at IS NULL AND starts_at <= now() AND ends_at > now()
          AND (lower(delegate->>'id') = lower($1) OR lower(delegate->>'email') = lower($2))`,
      [person.id, person.email],
    );
    return rows.map(delegationFromRow);
  }
}
