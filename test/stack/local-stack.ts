// Brings up the whole local stack without Docker: Kafka and the schema registry from Maven
// Central, MailDev from npm, and the project's database on the configured Postgres. Ports come
// from the same variables the worker reads, so the worker's defaults point at this stack.
import fs from 'node:fs';
import path from 'node:path';
import type { StackConfig as Config } from './stack-config';
import { isKafkaHealthy, startKafka } from './kafka-broker';
import { ensureDatabase } from './postgres';
import { SERVICES, StackError, reportToStderr, runTool, stopDaemon, type Report, type ServiceName } from './processes';
import { isRegistryHealthy, startSchemaRegistry } from './schema-registry';
import { isInboxHealthy, startSmtpInbox } from './smtp-inbox';

export interface StackEndpoints {
  KAFKA_BROKERS: string;
  SCHEMA_REGISTRY_URL: string;
  DATABASE_URL: string;
  SMTP_URL: string;
  SMTP_INBOX_URL: string;
}

interface StackPorts {
  kafka: number;
  registry: number;
  smtp: number;
  inbox: number;
}

function portsOf(config: Config): StackPorts {
  const firstBroker = config.kafka.brokers[0] ?? '127.0.0.1:9092';
  const port = (u: string): number => Number(new URL(u).port);
  return {
    kafka: Number(firstBroker.split(':')[1]),
    registry: port(config.schemaRegistryUrl),
    smtp: port(config.smtp.url),
    inbox: port(config.inboxUrl),
  };
}

export function endpointsOf(config: Config): StackEndpoints {
  return {
    KAFKA_BROKERS: config.kafka.brokers.join(','),
    SCHEMA_REGISTRY_URL: config.schemaRegistryUrl,
    DATABASE_URL: config.databaseUrl,
    SMTP_URL: config.smtp.url,
    SMTP_INBOX_URL: config.inboxUrl,
  };
}

/** Finds a Java 17+ runtime: JAVA_HOME first, then `java` on PATH. */
export async function findJava(javaHome: string | undefined): Promise<string> {
  const candidates = [javaHome ? path.join(javaHome, 'bin', 'java') : undefined, 'java'].filter((c): c is string => !!c);
  for (const java of candidates) {
    const probe = await runTool(java, ['-version'], { cwd: '.', what: `${java} -version`, hint: '' }).catch(() => undefined);
    if (!probe) continue;
    const match = /version "(\d+)/.exec(probe.stderr);
    const major = match ? Number(match[1]) : 0;
    if (major >= 17) return java;
    throw new StackError(`${java} is Java ${major}; Kafka 4 and the registry need Java 17 or newer (set JAVA_HOME)`);
  }
  throw new StackError('Java was not found; install Java 17 or newer (for example: apt-get install openjdk-17-jre-headless)');
}

/** The registry keeps its schemas in a database of its own, on the project's Postgres server. */
export function registryDatabaseUrl(config: Config): string {
  const url = new URL(config.databaseUrl);
  url.pathname = '/card_approvals_schema_registry';
  return url.toString();
}

export interface StackUpResult {
  endpoints: StackEndpoints;
  started: string[];
  reused: string[];
  seconds: number;
}

/**
 * Starts what is not already running and waits for all of it. Each service's wait starts when
 * that service is started; downloads and other slow steps run without blocking the waits, and
 * every step and slow wait is reported, so a cold first start looks slow, not broken.
 */
export async function stackUp(config: Config, report: Report = reportToStderr): Promise<StackUpResult> {
  const began = Date.now();
  const home = config.stackHome;
  fs.mkdirSync(home, { recursive: true });
  const ports = portsOf(config);
  const started: string[] = [];
  const reused: string[] = [];
  const note = (name: string, result: { started: boolean }): void => void (result.started ? started : reused).push(name);

  await ensureDatabase(config.databaseUrl).then((r) => note('postgres database', { started: r.created }));
  const inbox = startSmtpInbox({ home, smtpPort: ports.smtp, webPort: ports.inbox, report });
  // Only look for Java when a JVM service actually has to start.
  const needJava = !(await isKafkaHealthy(ports.kafka)) || !(await isRegistryHealthy(ports.registry));
  const java = needJava ? await findJava(config.javaHome) : 'java';
  const kafka = startKafka({ home, port: ports.kafka, controllerPort: ports.kafka + 1, report }, java);
  const registry = startSchemaRegistry(
    { home, port: ports.registry, managementPort: ports.registry + 1, databaseUrl: registryDatabaseUrl(config), report },
    java,
  );
  // A failure (a process that exited, a port taken) is reported at once; daemons already
  // started keep running and the next `up` reuses them.
  const [k, r, i] = await Promise.all([kafka, registry, inbox]);
  note('kafka', k);
  note('schema registry', r);
  note('smtp inbox', i);

  const endpoints = endpointsOf(config);
  fs.writeFileSync(
    path.join(home, 'endpoints.env'),
    Object.entries(endpoints)
      .map(([k2, v]) => `${k2}=${v}`)
      .join('\n') + '\n',
  );
  return { endpoints, started, reused, seconds: (Date.now() - began) / 1000 };
}


/**
 * Stops daemons the stack started (it keeps their pid files; something it found already running
 * has none) — all of them, or only `names`. Data stays for the next start.
 */
export async function stackDown(config: Config, names: string[] = Object.keys(SERVICES)): Promise<string[]> {
  const targets = names.filter((name): name is ServiceName => name in SERVICES);
  const results = await Promise.all(targets.map((name) => stopDaemon(path.join(config.stackHome, SERVICES[name].pidFile))));
  return targets.filter((_, index) => results[index]);
}

export async function stackStatus(config: Config): Promise<Record<string, boolean>> {
  const ports = portsOf(config);
  return {
    kafka: await isKafkaHealthy(ports.kafka),
    'schema registry': await isRegistryHealthy(ports.registry),
    'smtp inbox': await isInboxHealthy(ports.inbox, ports.smtp),
  };
}

export function describeFailure(error: unknown): string {
  if (error instanceof StackError) return error.message;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
