// A real Confluent-compatible schema registry: Apicurio Registry from its runnable archive on
// Maven Central, serving the Confluent API under /apis/ccompat/v7. Its storage is SQL, in a
// Postgres database of its own, so a restart keeps every schema id and messages already in Kafka
// still decode. 3.0.x is the newest line that runs on Java 17 (3.1+ is built for Java 21).
import fs from 'node:fs';
import path from 'node:path';
import { ensureDatabase } from './postgres';
import { JVM_START_TIMEOUT_MS, StackError, reportToStderr, runMaven, runTool, startService, type Report } from './processes';

export const APICURIO_VERSION = '3.0.9';
export const CCOMPAT_PATH = '/apis/ccompat/v7';

export interface SchemaRegistryOptions {
  /** Where the registry's archive is cached. */
  home: string;
  /** Where its pid file and log go (default: `home`); a test's own registry uses a folder of its own. */
  runDir?: string;
  port: number;
  managementPort: number;
  /** The Postgres database that holds the schemas (created if missing). */
  databaseUrl: string;
  report?: Report;
}

async function resolveRegistryApp(home: string, report: Report): Promise<string> {
  const dir = path.join(home, `apicurio-${APICURIO_VERSION}`);
  const runner = path.join(dir, `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`);
  if (fs.existsSync(runner)) return runner;
  const download = path.join(home, 'downloads');
  fs.mkdirSync(download, { recursive: true });
  report(`downloading Apicurio Registry ${APICURIO_VERSION} from Maven Central (first start only)`);
  await runMaven(['dependency:copy', `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:zip:all`, `-DoutputDirectory=${download}`], {
    cwd: download,
    what: `Downloading Apicurio Registry ${APICURIO_VERSION} from Maven Central`,
  });
  const archive = path.join(download, `apicurio-registry-app-${APICURIO_VERSION}-all.zip`);
  const staging = `${dir}.tmp`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  await runTool('unzip', ['-q', '-o', archive, '-d', staging], {
    cwd: download,
    what: 'Unpacking Apicurio Registry',
    hint: 'install unzip (apt-get install unzip)',
  });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  if (!fs.existsSync(runner)) throw new StackError(`the Apicurio archive did not contain ${path.basename(runner)}`);
  return runner;
}

export async function isRegistryHealthy(port: number): Promise<boolean> {
  try {
    // Its storage is a database: under load an answer can take a few seconds. The global config
    // costs the same however many subjects it holds.
    const res = await fetch(`http://127.0.0.1:${port}${CCOMPAT_PATH}/config`, { signal: AbortSignal.timeout(3000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** Apicurio's SQL storage settings for a postgres:// URL (its JDBC driver is bundled). */
function sqlStorage(databaseUrl: string): NodeJS.ProcessEnv {
  const url = new URL(databaseUrl);
  return {
    APICURIO_STORAGE_KIND: 'sql',
    APICURIO_STORAGE_SQL_KIND: 'postgresql',
    APICURIO_DATASOURCE_URL: `jdbc:postgresql://${url.hostname}:${url.port || 5432}${url.pathname}`,
    APICURIO_DATASOURCE_USERNAME: decodeURIComponent(url.username) || 'postgres',
    APICURIO_DATASOURCE_PASSWORD: decodeURIComponent(url.password) || 'postgres',
  };
}

export function startSchemaRegistry(opts: SchemaRegistryOptions, java: string): Promise<{ started: boolean }> {
  const runDir = opts.runDir ?? opts.home;
  const report = opts.report ?? reportToStderr;
  return startService({
    service: 'schema registry',
    runDir,
    ports: [opts.port, opts.managementPort],
    healthy: () => isRegistryHealthy(opts.port),
    timeoutMs: JVM_START_TIMEOUT_MS,
    report,
    prepare: async () => {
      const runner = await resolveRegistryApp(opts.home, report);
      await ensureDatabase(opts.databaseUrl);
      return {
        what: `Apicurio Registry ${APICURIO_VERSION} on 127.0.0.1:${opts.port}`,
        command: java,
        args: ['-Xms128m', '-Xmx512m', '-jar', runner],
        cwd: path.dirname(runner),
        env: {
          QUARKUS_HTTP_HOST: '127.0.0.1',
          QUARKUS_HTTP_PORT: String(opts.port),
          QUARKUS_MANAGEMENT_PORT: String(opts.managementPort),
          QUARKUS_MANAGEMENT_HOST: '127.0.0.1',
          QUARKUS_LOG_LEVEL: 'WARN',
          ...sqlStorage(opts.databaseUrl),
        },
        logFile: path.join(runDir, 'registry.log'),
      };
    },
  });
}
