import type { QueryRunner } from 'typeorm';

/**
 * Builds an index without blocking writes (CREATE INDEX CONCURRENTLY), for tables that can be
 * large: a rolling update's older workers go on writing while it is built. Such a migration sets
 * `transaction = false`: a concurrent build cannot run inside a transaction. A build that failed
 * half-way leaves an invalid index behind, which is dropped and built again.
 */
export async function createIndexConcurrently(db: QueryRunner, name: string, definition: string): Promise<void> {
  await db.query(
    `DO $$ BEGIN
       IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = '${name}' AND NOT i.indisvalid) THEN
         EXECUTE 'DROP INDEX ${name}';
       END IF;
     END $$`,
  );
  await db.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name} ON ${definition}`);
}
