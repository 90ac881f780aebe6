import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The numbers of erasure's pseudonyms ("erased person 7"). Only a sequence: nothing links a
 * pseudonym back to the person it replaced. The previous version never reads it.
 */
export class ErasedPersons1765500000000 implements MigrationInterface {
  name = 'ErasedPersons1765500000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE SEQUENCE erased_person_seq`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP SEQUENCE erased_person_seq`);
  }
}
