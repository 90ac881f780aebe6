// A real Confluent-compatible schema registry: Apicurio Registry from its runnable archive on
// Maven Central, in-memory storage, serving the Confluent API under /apis/ccompat/v7.
// 3.0.x is the newest line that runs on Java 17 (3.1+ is built for Java 21).
import fs from 'node:fs';
import path from 'node:path';
import { StackError, isProcessAlive, needsStart, runTool, startDaemon, waitFor } from './processes';

export const APICURIO_VERSION = '3.0.9';
export const CCOMPAT_PATH = '/apis/ccompat/v7';

export interface SchemaRegistryOptions {
  home: string;
  port: number;
  managementPort: number;
}

function resolveRegistryApp(home: string): string {
  const dir = path.join(home, `apicurio-${APICURIO_VERSION}`);
  const runner = path.join(dir, `apicurio-registry-app-${APICURIO_VERSION}-runner.jar`);
  if (fs.existsSync(runner)) return runner;
  const download = path.join(home, 'downloads');
  fs.mkdirSync(download, { recursive: true });
  runTool(
    'mvn',
    ['-B', '-q', 'dependency:copy', `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:zip:all`, `-DoutputDirectory=${download}`],
    {
      cwd: download,
      what: `Downloading Apicurio Registry ${APICURIO_VERSION} from Maven Central`,
      hint: 'install Apache Maven (for example: apt-get install maven) or use docker compose',
    },
  );
  const archive = path.join(download, `apicurio-registry-app-${APICURIO_VERSION}-all.zip`);
  const staging = `${dir}.tmp`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  runTool('unzip', ['-q', '-o', archive, '-d', staging], {
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
    const res = await fetch(`http://127.0.0.1:${port}${CCOMPAT_PATH}/subjects`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

export async function startSchemaRegistry(opts: SchemaRegistryOptions, java: string): Promise<{ started: boolean }> {
  const pidFile = path.join(opts.home, 'registry.pid');
  const healthy = (): Promise<boolean> => isRegistryHealthy(opts.port);
  if (!(await needsStart({ what: 'a schema registry', healthy, ports: [opts.port, opts.managementPort], pidFile, variable: 'SCHEMA_REGISTRY_URL' }))) {
    return { started: false };
  }

  const runner = resolveRegistryApp(opts.home);
  const logFile = path.join(opts.home, 'registry.log');
  const pid = startDaemon({
    command: java,
    args: ['-Xms128m', '-Xmx512m', '-jar', runner],
    cwd: path.dirname(runner),
    env: {
      QUARKUS_HTTP_HOST: '127.0.0.1',
      QUARKUS_HTTP_PORT: String(opts.port),
      QUARKUS_MANAGEMENT_PORT: String(opts.managementPort),
      QUARKUS_MANAGEMENT_HOST: '127.0.0.1',
      QUARKUS_LOG_LEVEL: 'WARN',
    },
    logFile,
    pidFile,
  });
  await waitFor(`schema registry on 127.0.0.1:${opts.port}`, healthy, {
    timeoutMs: 90_000,
    logFile,
    isAlive: () => isProcessAlive(pid),
  });
  return { started: true };
}
