import type { MigrationInterface, QueryRunner } from 'typeorm';
import { STAGES_BEFORE_STAGES } from './1764600000000-approval-votes';

/**
 * Repairs records that workers of a version from before stages opened after the stages
 * migration ran, during a rolling update: they got the column's default `[]`, which the version
 * after read as no stage at all, so every decision on them failed. They are given the one stage
 * they had. Safe beside either previous version: the one before stages never reads the column,
 * the one after never writes `[]`. Records such a worker still opens read correctly without it
 * (approval-records.ts), and are stored with their stage at their next change.
 */
export class StagesOfOlderRecords1764900000000 implements MigrationInterface {
  name = 'StagesOfOlderRecords1764900000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`UPDATE approval_requests SET stages = ${STAGES_BEFORE_STAGES} WHERE stages = '[]'::jsonb`);
  }

  async down(): Promise<void> {
    // Nothing to undo: the stage written is the meaning the record always had.
  }
}
