// A real single-node Apache Kafka broker (KRaft, combined broker+controller) run from the
// Apache Kafka artifacts on Maven Central: Maven resolves the broker's classpath once and
// caches it; storage is formatted on first start.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { JVM_START_TIMEOUT_MS, isPortOpen, reportToStderr, runMaven, runTool, startService, type Report } from './processes';

export const KAFKA_VERSION = '4.1.1';
const LOG4J_VERSION = '2.24.3';


export interface KafkaBrokerOptions {
  home: string; // stack state directory
  port: number;
  controllerPort: number;
  report?: Report;
}

function runtimePom(): string {
  const dep = (g: string, a: string, v: string): string =>
    `<dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.stack</groupId><artifactId>kafka-broker-runtime</artifactId><version>${KAFKA_VERSION}</version>
  <dependencies>
    ${dep('org.apache.kafka', 'kafka_2.13', KAFKA_VERSION)}
    ${dep('org.apache.logging.log4j', 'log4j-slf4j-impl', LOG4J_VERSION)}
  </dependencies>
</project>
`;
}

/** Resolves (downloading on first use) the broker classpath; cached per Kafka version. */
export async function resolveKafkaClasspath(home: string, report: Report = reportToStderr): Promise<string> {
  const dir = path.join(home, `kafka-${KAFKA_VERSION}`);
  const classpathFile = path.join(dir, 'classpath.txt');
  if (fs.existsSync(classpathFile)) return fs.readFileSync(classpathFile, 'utf8').trim();
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'pom.xml'), runtimePom());
  report(`downloading Apache Kafka ${KAFKA_VERSION} from Maven Central (first start only)`);
  await runMaven(['dependency:build-classpath', `-Dmdep.outputFile=${classpathFile}.tmp`], {
    cwd: dir,
    what: `Downloading Apache Kafka ${KAFKA_VERSION} from Maven Central`,
  });
  fs.renameSync(`${classpathFile}.tmp`, classpathFile);
  return fs.readFileSync(classpathFile, 'utf8').trim();
}

/**
 * A listener for clients: the shared broker's PLAINTEXT, or a secured one a test starts (SASL
 * with SCRAM, TLS with client certificates). `properties` are what the listener itself needs.
 */
export interface ClientListener {
  name: string;
  protocol: 'PLAINTEXT' | 'SASL_PLAINTEXT' | 'SSL';
  properties: string[];
}

const PLAINTEXT_LISTENER: ClientListener = { name: 'PLAINTEXT', protocol: 'PLAINTEXT', properties: [] };

/** A single-node broker and controller; the controller listener is always PLAINTEXT on loopback. */
export function brokerProperties(opts: { port: number; controllerPort: number; dataDir: string; listener?: ClientListener }): string {
  const { name, protocol, properties } = opts.listener ?? PLAINTEXT_LISTENER;
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${opts.controllerPort}`,
    `listeners=${name}://127.0.0.1:${opts.port},CONTROLLER://127.0.0.1:${opts.controllerPort}`,
    `advertised.listeners=${name}://127.0.0.1:${opts.port}`,
    'controller.listener.names=CONTROLLER',
    `listener.security.protocol.map=${name}:${protocol},CONTROLLER:PLAINTEXT`,
    `inter.broker.listener.name=${name}`,
    ...properties,
    `log.dirs=${opts.dataDir}`,
    'num.partitions=3',
    // Topics are created by the worker's admin client; a typo must not create a topic.
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // Single node: no reason to wait for more members before the first rebalance.
    'group.initial.rebalance.delay.ms=0',
    'log.retention.hours=24',
    '',
  ].join('\n');
}

const LOG4J2_PROPERTIES = `status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = \${sys:kafka.logs.dir}/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.server.name = org.apache.kafka.server
logger.server.level = INFO
`;

export async function isKafkaHealthy(port: number): Promise<boolean> {
  if (!(await isPortOpen(port))) return false;
  const admin = new Kafka({
    brokers: [`127.0.0.1:${port}`],
    clientId: 'stack-health',
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1000,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export function startKafka(opts: KafkaBrokerOptions, java: string): Promise<{ started: boolean }> {
  const report = opts.report ?? reportToStderr;
  return startService({
    service: 'kafka',
    runDir: opts.home,
    ports: [opts.port, opts.controllerPort],
    healthy: () => isKafkaHealthy(opts.port),
    timeoutMs: JVM_START_TIMEOUT_MS,
    report,
    prepare: async () => {
      const classpath = await resolveKafkaClasspath(opts.home, report);
      const runDir = path.join(opts.home, 'kafka-run');
      const propsFile = await prepareStorage(opts, runDir, java, classpath, report);
      return {
        what: `Kafka ${KAFKA_VERSION} on 127.0.0.1:${opts.port}`,
        command: java,
        args: brokerJavaArgs(['-Xms256m', '-Xmx1g', '-XX:+UseG1GC'], runDir, classpath, propsFile),
        cwd: runDir,
        logFile: path.join(runDir, 'stdout.log'),
        serviceLog: path.join(runDir, 'broker.log'),
      };
    },
  });
}

/** Writes the broker's configuration and formats its storage on first start; returns the properties file. */
async function prepareStorage(opts: KafkaBrokerOptions, runDir: string, java: string, classpath: string, report: Report): Promise<string> {
  const dataDir = path.join(runDir, 'data');
  const propsFile = writeBrokerFiles(runDir, brokerProperties({ port: opts.port, controllerPort: opts.controllerPort, dataDir }));
  if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) {
    report('formatting Kafka storage (first start only)');
    await formatStorage(java, classpath, runDir, propsFile);
  }
  return propsFile;
}

/** Writes server.properties and the Log4j2 configuration into `runDir`; returns the properties file. */
export function writeBrokerFiles(runDir: string, properties: string): string {
  fs.mkdirSync(runDir, { recursive: true });
  const propsFile = path.join(runDir, 'server.properties');
  fs.writeFileSync(propsFile, properties);
  fs.writeFileSync(path.join(runDir, 'log4j2.properties'), LOG4J2_PROPERTIES);
  return propsFile;
}

/** The broker's JVM command line (`jvmOptions`: heap, collector); its log goes to `runDir`/broker.log. */
export function brokerJavaArgs(jvmOptions: string[], runDir: string, classpath: string, propsFile: string): string[] {
  return [
    ...jvmOptions,
    `-Dkafka.logs.dir=${runDir}`,
    `-Dlog4j2.configurationFile=${path.join(runDir, 'log4j2.properties')}`,
    '-cp',
    classpath,
    'kafka.Kafka',
    propsFile,
  ];
}

/** Formats a single-node broker's storage (a new cluster); `extra` adds StorageTool options (SCRAM users, say). */
export async function formatStorage(java: string, classpath: string, runDir: string, propsFile: string, extra: string[] = []): Promise<void> {
  // A short run: the JVM's quick compiler alone starts it sooner.
  const args = ['-XX:TieredStopAtLevel=1', '-cp', classpath, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', newClusterId(), '-c', propsFile, ...extra];
  await runTool(java, args, { cwd: runDir, what: 'Formatting Kafka storage', hint: 'install Java 17 or newer' });
}

/**
 * A cluster id as `kafka-storage random-uuid` makes one (16 random bytes in URL-safe base64, not
 * starting with "-", which would read as an option), without starting a JVM for it.
 */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
