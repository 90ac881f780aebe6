// The migration command: applies pending database migrations and exits. Run it as the migrator
// role (the owner of the schema), before workers that start with MIGRATE=false; it runs from a
// production install (`npm ci --omit=dev` and dist/): `node dist/entry-points/cli/migrate.js`.
// It needs only DATABASE_URL (or DATABASE_URL_FILE).
import { createDataSource, migrate } from '../../data-access/data-source';
import { ConfigError, loadDatabaseUrl } from '../../libraries/config';
import { errorMessage } from '../../libraries/errors';

async function main(): Promise<void> {
  const dataSource = await createDataSource(loadDatabaseUrl(), 2).initialize(); // the migration lock holds one connection
  try {
    const applied = await migrate(dataSource);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `migrate: ${errorMessage(error)}`);
  process.exit(1);
});
