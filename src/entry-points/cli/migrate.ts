// `npm run migrate`: applies pending database migrations and exits.
import { createDataSource, migrate } from '../../data-access/data-source';
import { loadConfig } from '../../libraries/config';
import { errorMessage } from '../../libraries/errors';

async function main(): Promise<void> {
  const config = loadConfig();
  const dataSource = await createDataSource(config.databaseUrl, 2).initialize() // the migration lock holds one connection;
  try {
    const applied = await migrate(dataSource);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(`migrate: ${errorMessage(error)}`);
  process.exit(1);
});
