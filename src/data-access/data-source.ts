import { DataSource } from 'typeorm';
import { NotProvisionedError } from '../libraries/errors';
import { ApprovalSchema1764000000000 } from './migrations/1764000000000-approval-schema';
import { ApiIndexes1764100000000 } from './migrations/1764100000000-api-indexes';
import { OutboxLeases1764200000000 } from './migrations/1764200000000-outbox-leases';
import { CardKeys1764300000000 } from './migrations/1764300000000-card-keys';
import { ApprovalTimers1764400000000 } from './migrations/1764400000000-approval-timers';
import { TimerParking1764500000000 } from './migrations/1764500000000-timer-parking';
import { ApprovalVotes1764600000000 } from './migrations/1764600000000-approval-votes';
import { EmailLinks1764700000000 } from './migrations/1764700000000-email-links';
import { RequesterIndex1764800000000 } from './migrations/1764800000000-requester-index';
import { StagesOfOlderRecords1764900000000 } from './migrations/1764900000000-stages-of-older-records';
import { IdempotencyKeys1765000000000 } from './migrations/1765000000000-idempotency-keys';
import { ApprovalHistory1765100000000 } from './migrations/1765100000000-approval-history';
import { HistoryCopyAndRetentionIndexes1765200000000 } from './migrations/1765200000000-history-copy-and-retention-indexes';
import { DecisionArrival1765300000000 } from './migrations/1765300000000-decision-arrival';
import { ErasedPersons1765500000000 } from './migrations/1765500000000-erased-persons';
import { AuditChain1765400000000 } from './migrations/1765400000000-audit-chain';
import { BatchState1765600000000 } from './migrations/1765600000000-batch-state';

/**
 * How each pool names its connections to Postgres (`pg_stat_activity.application_name`), so an
 * operator can tell whose connections are busy. Other clients (the CLI, tests) use `other`.
 */
export const POOL_NAMES = { worker: 'card-approval-worker', api: 'card-approval-worker-api', other: 'card-approvals' } as const;

/** The API's reads never hold more connections than this. */
export const API_POOL_SIZE = 4;

/** Schema changes only through migrations; never `synchronize`. */
export function createDataSource(databaseUrl: string, poolSize = 10, lockTimeoutMs = 0, statementTimeoutMs = 0, applicationName: string = POOL_NAMES.other): DataSource {
  return new DataSource({
    type: 'postgres',
    url: databaseUrl,
    applicationName,
    migrations: [ApprovalSchema1764000000000, ApiIndexes1764100000000, OutboxLeases1764200000000, CardKeys1764300000000, ApprovalTimers1764400000000, TimerParking1764500000000, ApprovalVotes1764600000000, EmailLinks1764700000000, RequesterIndex1764800000000, StagesOfOlderRecords1764900000000, IdempotencyKeys1765000000000, ApprovalHistory1765100000000, HistoryCopyAndRetentionIndexes1765200000000, DecisionArrival1765300000000, AuditChain1765400000000, ErasedPersons1765500000000, BatchState1765600000000],
    // Each migration in a transaction of its own, unless it says `transaction = false` (an index
    // built concurrently): all in one transaction would forbid that.
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    // A lock wait past `lockTimeoutMs` fails the statement (55P03) instead of blocking forever; a
    // statement past `statementTimeoutMs` is cancelled (57014). 0 disables either.
    extra: { max: poolSize, connectionTimeoutMillis: 5000, options: `-c lock_timeout=${lockTimeoutMs} -c statement_timeout=${statementTimeoutMs}` },
  });
}

/**
 * Runs one claim of an outbox's queue with bitmap scans off, so it walks the queue's partial
 * index in order and stops after its limit. The index keeps an entry for every row that left
 * the queue (sent, published) until the next vacuum; a plain index scan marks those entries dead
 * as it passes them, so the next claim skips them. A bitmap scan, which the planner picks when
 * the table's statistics are stale (a new or fast-growing table), reads all of them on every
 * claim and marks none: a claim of an empty queue took 5 to 12 ms after 20,000 events.
 */
export async function claimWalkingIndex<T>(dataSource: DataSource, sql: string, parameters: unknown[]): Promise<T[]> {
  return dataSource.transaction(async (db) => {
    await db.query('SET LOCAL enable_bitmapscan = off');
    return db.query(sql, parameters) as Promise<T[]>;
  });
}

const MIGRATION_LOCK = 7411001;
const MIGRATION_LOCK_POLL_MS = 500;

/**
 * Runs pending migrations; an advisory lock keeps several starting workers from racing. Another
 * worker may be migrating: this one waits for it however long it takes, by trying the lock
 * every half second. A session blocked in pg_advisory_lock would hold a snapshot, and an index
 * that migration builds concurrently waits for every snapshot: the two would wait for each other.
 */
export async function migrate(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  let locked = false;
  try {
    for (;;) {
      const [row] = (await runner.query('SELECT pg_try_advisory_lock($1) AS got', [MIGRATION_LOCK])) as Array<{ got: boolean }>;
      if ((locked = row?.got === true)) break;
      await new Promise((resolve) => setTimeout(resolve, MIGRATION_LOCK_POLL_MS));
    }
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    if (locked) await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

/**
 * The API's reads: a small pool of their own, whose statements end after `statementTimeoutMs`, so
 * API callers can never take the connections the consumer needs.
 */
export async function startReadPool(databaseUrl: string, statementTimeoutMs: number): Promise<{ dataSource: DataSource; stop: () => Promise<void> }> {
  const dataSource = await createDataSource(databaseUrl, API_POOL_SIZE, 0, statementTimeoutMs, POOL_NAMES.api).initialize();
  return { dataSource, stop: () => dataSource.destroy() };
}

/**
 * The migrations this code has that the database has not applied (newer ones the database has,
 * from a version rolled back from, do not matter: migrations only add).
 */
export async function missingMigrations(dataSource: DataSource): Promise<string[]> {
  const [{ exists }] = (await dataSource.query(`SELECT to_regclass('migrations') IS NOT NULL AS exists`)) as [{ exists: boolean }];
  const applied = new Set(exists ? ((await dataSource.query('SELECT name FROM migrations')) as Array<{ name: string }>).map((m) => m.name) : []);
  return dataSource.migrations.map((m) => m.name!).filter((name) => !applied.has(name));
}

/**
 * The worker's connection pool, with the schema migrated; or, with `migrate` false (a role without
 * DDL rights, migrations run beforehand), with the schema checked: a missing migration refuses start-up.
 */
export async function startDatabase(databaseUrl: string, lockTimeoutMs: number, runMigrations = true): Promise<{ dataSource: DataSource; migrated: string[]; stop: () => Promise<void> }> {
  const dataSource = await createDataSource(databaseUrl, 10, lockTimeoutMs, 0, POOL_NAMES.worker).initialize();
  try {
    if (!runMigrations) {
      const missing = await missingMigrations(dataSource);
      if (missing.length) throw new NotProvisionedError(`the database schema is not current (MIGRATE=false): migrations not applied: ${missing.join(', ')}; run node dist/entry-points/cli/migrate.js as the migrator`);
    }
    return { dataSource, migrated: runMigrations ? await migrate(dataSource) : [], stop: () => dataSource.destroy() };
  } catch (error) {
    await dataSource.destroy().catch(() => undefined);
    throw error;
  }
}
