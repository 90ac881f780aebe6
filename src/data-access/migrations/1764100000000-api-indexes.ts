import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The text the API's free-text search looks in; the query must use this exact expression. */
export const SEARCH_TEXT = `(request_id || ' ' || (requester->>'name') || ' ' || coalesce(description, '') || ' '
  || jsonb_path_query_array(cards, '$[*].cardId')::text || jsonb_path_query_array(cards, '$[*].serialNumber')::text)`;

/**
 * Indexes for the API over a million records:
 * - a trigram index for free-text search over the request id, requester name, description and
 *   card ids and serial numbers (`ILIKE '%…%'` would scan the table). The text is kept short,
 *   as every insert and status change writes its trigrams;
 * - the newest-first order of the operator's default view, which otherwise sorts every row;
 * - pending requests (the operators' "stuck" view, the approvers' tasks) in a small partial
 *   index; approved and rejected are most of the table and come fast enough newest-first.
 */
export class ApiIndexes1764100000000 implements MigrationInterface {
  name = 'ApiIndexes1764100000000';

  // Re-runnable (IF NOT EXISTS / IF EXISTS), so a partly applied run ends up the same.
  async up(db: QueryRunner): Promise<void> {
    await db.query('CREATE EXTENSION IF NOT EXISTS pg_trgm');
    await db.query(`CREATE INDEX IF NOT EXISTS approval_requests_search_idx ON approval_requests USING gin (${SEARCH_TEXT} gin_trgm_ops)`);
    await db.query('CREATE INDEX IF NOT EXISTS approval_requests_opened_idx ON approval_requests (opened_at, request_id)');
    await db.query(`CREATE INDEX IF NOT EXISTS approval_requests_pending_idx ON approval_requests (operation, opened_at) WHERE status = 'PENDING'`);
    await db.query('DROP INDEX IF EXISTS approval_requests_status_idx');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('CREATE INDEX approval_requests_status_idx ON approval_requests (status, operation, opened_at)');
    await db.query('DROP INDEX approval_requests_pending_idx');
    await db.query('DROP INDEX approval_requests_opened_idx');
    await db.query('DROP INDEX approval_requests_search_idx');
  }
}
