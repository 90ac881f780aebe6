import type { QueryRunner } from 'typeorm';

/**
 * Builds an index without blocking writes (CREATE INDEX CONCURRENTLY), for tables that can be
 * large: a rolling update's older workers go on writing while it is built. Such a migration sets
 * `transaction = false`: a concurrent build cannot run inside a transaction. It waits for every
 * transaction already open (a long report, a backup) however long they take, rather than fail
 * start-up after the pool's lock timeout. A build that failed half-way leaves an invalid index
 * behind, which is dropped (concurrently too) and built again.
 */
export async function createIndexConcurrently(db: QueryRunner, name: string, definition: string): Promise<void> {
  await db.query('SET lock_timeout = 0');
  try {
    const [invalid] = (await db.query(`SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1 AND NOT i.indisvalid`, [name])) as unknown[];
    if (invalid) await db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
    await db.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name} ON ${definition}`);
  } finally {
    // The connection goes back to the pool: it must wait for locks no longer than any other.
    await db.query('RESET lock_timeout');
  }
}
