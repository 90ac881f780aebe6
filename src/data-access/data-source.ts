import { DataSource } from 'typeorm';
import { ApprovalSchema1764000000000 } from './migrations/1764000000000-approval-schema';
import { ApiIndexes1764100000000 } from './migrations/1764100000000-api-indexes';

/** Schema changes only through migrations; never `synchronize`. */
export function createDataSource(databaseUrl: string, poolSize = 10): DataSource {
  return new DataSource({
    type: 'postgres',
    url: databaseUrl,
    migrations: [ApprovalSchema1764000000000, ApiIndexes1764100000000],
    migrationsTransactionMode: 'all',
    synchronize: false,
    logging: false,
    extra: { max: poolSize, connectionTimeoutMillis: 5000 },
  });
}

/** Runs pending migrations; an advisory lock keeps several starting workers from racing. */
export async function migrate(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock(7411001)');
    const applied = await dataSource.runMigrations({ transaction: 'all' });
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock(7411001)').catch(() => undefined);
    await runner.release();
  }
}

/** The worker's connection pool, with the schema migrated. */
export async function startDatabase(databaseUrl: string): Promise<{ dataSource: DataSource; migrated: string[]; stop: () => Promise<void> }> {
  const dataSource = await createDataSource(databaseUrl).initialize();
  try {
    return { dataSource, migrated: await migrate(dataSource), stop: () => dataSource.destroy() };
  } catch (error) {
    await dataSource.destroy().catch(() => undefined);
    throw error;
  }
}
