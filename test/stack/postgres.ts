// The stack does not run Postgres itself: it uses the server DATABASE_URL points at (by
// default the local one) and creates the project's database there if it is missing.
import { Client } from 'pg';
import { StackError } from './processes';

function adminClient(databaseUrl: string): { client: Client; database: string; host: string } {
  const url = new URL(databaseUrl);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) {
    throw new StackError(`DATABASE_URL names database "${database}"; use letters, digits and underscores`);
  }
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  return { client: new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5000 }), database, host: url.host };
}

/** Drops a database (used for the throwaway databases of tests), closing its connections. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const { client, database } = adminClient(databaseUrl);
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export async function ensureDatabase(databaseUrl: string): Promise<{ created: boolean }> {
  const { client, database, host } = adminClient(databaseUrl);
  try {
    await client.connect();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new StackError(`cannot reach Postgres at ${host} (${reason}); start it or set DATABASE_URL`);
  }
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount) return { created: false };
    await client.query(`CREATE DATABASE "${database}"`).catch((error: unknown) => {
      // Two clones starting at once may race to create it; losing that race is fine.
      if ((error as { code?: string }).code !== '42P04') throw error;
    });
    return { created: true };
  } finally {
    await client.end();
  }
}
