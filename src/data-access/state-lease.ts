// Which replica serves the metrics read from the database and the consumer group: the holder of
// a lease row in maintenance_leases. Each scrape renews it, or takes it once its holder's ran out;
// so the replica being scraped holds it, and a holder that stopped (or is no longer scraped) hands
// it over one lease later. The row is made by the first worker that asks (no migration: the
// table exists since 1765100000000, and the previous version never reads this row).
import type { DataSource } from 'typeorm';

const LEASE = 'state-metrics';

export class StateLease {
  constructor(private readonly dataSource: DataSource) {}

  /** Keeps the lease for `holder` for `leaseMs` more, or takes it if no one else holds it. */
  async hold(holder: string, leaseMs: number): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `INSERT INTO maintenance_leases AS l (name, holder, held_until) VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3 / 1000.0))
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, held_until = excluded.held_until
       WHERE l.holder = excluded.holder OR l.held_until IS NULL OR l.held_until < clock_timestamp()
       RETURNING 1`,
      [LEASE, holder, leaseMs],
    );
    return rows.length > 0;
  }

  /** Gives the lease up (a stopping worker): the next replica scraped takes it at once. */
  async release(holder: string): Promise<void> {
    await this.dataSource.query(`UPDATE maintenance_leases SET holder = NULL, held_until = NULL WHERE name = $1 AND holder = $2`, [LEASE, holder]);
  }
}
