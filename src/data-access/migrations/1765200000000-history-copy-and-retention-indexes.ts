import type { MigrationInterface, QueryRunner } from 'typeorm';
import { HISTORY_COLUMNS, HISTORY_FROM_EVENT } from './1765100000000-approval-history';
import { createIndexConcurrently } from './concurrent-index';

const COPY_BATCH = 10_000;

/**
 * The history of events stored before approval_history, copied from approval_events 10,000 rows
 * at a time, each batch a short transaction of its own (the table can hold millions, and is written
 * meanwhile; what is written from now on the trigger keeps). Then the indexes retention walks:
 * closed records by when they closed, published events and sent emails by when they went out.
 */
export class HistoryCopyAndRetentionIndexes1765200000000 implements MigrationInterface {
  name = 'HistoryCopyAndRetentionIndexes1765200000000';
  transaction = false;

  async up(db: QueryRunner): Promise<void> {
    for (let after = -1; ; ) {
      const [row]: Array<{ last: string | null }> = await db.query(
        `WITH batch AS (SELECT * FROM approval_events WHERE seq > $1 ORDER BY seq LIMIT ${COPY_BATCH}),
              copied AS (INSERT INTO approval_history (${HISTORY_COLUMNS}) SELECT ${HISTORY_FROM_EVENT} FROM batch ON CONFLICT (seq) DO NOTHING)
         SELECT max(seq)::text AS last FROM batch`,
        [after],
      );
      if (row?.last == null) break;
      after = Number(row.last);
    }
    await createIndexConcurrently(db, 'approval_requests_closed_idx', `approval_requests (closed_at) WHERE status <> 'PENDING'`);
    await createIndexConcurrently(db, 'approval_events_published_idx', `approval_events (published_at) WHERE published_at IS NOT NULL`);
    await createIndexConcurrently(db, 'email_outbox_sent_idx', `email_outbox (sent_at) WHERE status = 'SENT'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP INDEX IF EXISTS email_outbox_sent_idx');
    await db.query('DROP INDEX IF EXISTS approval_events_published_idx');
    await db.query('DROP INDEX IF EXISTS approval_requests_closed_idx');
  }
}
