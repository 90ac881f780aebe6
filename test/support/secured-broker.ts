// A Kafka broker of a test's own whose client listener is secured: SASL with SCRAM-SHA-256 (the
// user is created when its storage is formatted), or TLS that requires a client certificate (a CA
// and certificates made for the test). Single node, small heap, free ports and a temporary folder
// of its own; stop() ends it and deletes the folder. The shared broker is not touched.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createKafka } from '../../src/adapters/kafka/kafka-client';
import { loadConfig } from '../../src/libraries/config';
import { loadStackConfig } from '../stack/stack-config';
import { createLogger } from '../../src/libraries/logger';
import { brokerJavaArgs, brokerProperties, formatStorage, resolveKafkaClasspath, writeBrokerFiles, type ClientListener } from '../stack/kafka-broker';
import { findJava } from '../stack/local-stack';
import { JVM_START_TIMEOUT_MS, isProcessAlive, startDaemon, stopDaemon, waitFor } from '../stack/processes';
import { createCertificates, type TestCertificates } from './certificates';
import { freePort } from './ports';

/** `scram-acl`: SCRAM with the authorizer on, and an admin super user beside the worker's user. */
export type ListenerKind = 'scram' | 'scram-acl' | 'tls';

/** A broker for one test file: a small heap, and the JVM's quick compiler alone, which starts it sooner. */
const TEST_BROKER_JVM = ['-Xms64m', '-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];

export interface SecuredBroker {
  /** What reaches it: KAFKA_BROKERS and the KAFKA_SASL_* or KAFKA_SSL_* variables of a client it accepts. */
  env: Record<string, string>;
  /** The TLS broker's certificates, for clients it should refuse. */
  certificates: TestCertificates | undefined;
  /** With the authorizer on: KAFKA_BROKERS and the SASL settings of its super user. */
  adminEnv: Record<string, string> | undefined;
  stop(): Promise<void>;
}

interface Listener {
  listener: ClientListener;
  /** StorageTool options at format time. */
  formatArgs: string[];
  env: Record<string, string>;
  /** A super user's settings, on a broker with its authorizer on. */
  adminEnv?: Record<string, string>;
}

/**
 * SCRAM-SHA-256 for the worker's user. With `authorizer`, the broker authorizes every request
 * (StandardAuthorizer, nothing allowed without an ACL) and a second user, admin, is a super user
 * (so is the broker itself, on its own listeners): the test grants the worker what it needs.
 */
function scramListener(authorizer = false): Listener {
  const username = 'card-approval-worker';
  const password = randomBytes(12).toString('hex');
  const admin = { username: 'admin', password: randomBytes(12).toString('hex') };
  const brokerUser = authorizer ? admin : { username, password };
  return {
    listener: {
      name: 'SASL_PLAINTEXT',
      protocol: 'SASL_PLAINTEXT',
      properties: [
        'sasl.enabled.mechanisms=SCRAM-SHA-256',
        'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256',
        `listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${brokerUser.username}" password="${brokerUser.password}";`,
        ...(authorizer ? ['authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer', 'super.users=User:admin;User:ANONYMOUS', 'allow.everyone.if.no.acl.found=false'] : []),
      ],
    },
    formatArgs: ['--add-scram', `SCRAM-SHA-256=[name=${username},password=${password}]`, ...(authorizer ? ['--add-scram', `SCRAM-SHA-256=[name=${admin.username},password=${admin.password}]`] : [])],
    env: { KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password },
    adminEnv: authorizer ? { KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: admin.username, KAFKA_SASL_PASSWORD: admin.password } : undefined,
  };
}

function tlsListener(certificates: TestCertificates): Listener {
  return {
    listener: {
      name: 'SSL',
      protocol: 'SSL',
      properties: [
        'ssl.client.auth=required',
        'ssl.keystore.type=PEM',
        `ssl.keystore.certificate.chain=${pemProperty(certificates.broker.cert)}`,
        `ssl.keystore.key=${pemProperty(certificates.broker.key)}`,
        'ssl.truststore.type=PEM',
        `ssl.truststore.location=${certificates.ca}`,
      ],
    },
    formatArgs: [],
    env: {
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: certificates.ca,
      KAFKA_SSL_CERT_FILE: certificates.client.cert,
      KAFKA_SSL_KEY_FILE: certificates.client.key,
      KAFKA_SSL_KEY_PASSWORD: certificates.clientKeyPassword,
    },
  };
}

/** A PEM file as a one-line property value: Kafka's PEM parser takes spaces for the line breaks. */
const pemProperty = (file: string): string => fs.readFileSync(file, 'utf8').trim().split('\n').join(' ');

export async function startSecuredBroker(kind: ListenerKind): Promise<SecuredBroker> {
  const config = loadStackConfig();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `kafka-${kind}-`));
  const pidFile = path.join(dir, 'kafka.pid');
  const stop = async (): Promise<void> => {
    await stopDaemon(pidFile, 5000);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [java, classpath, port, controllerPort] = await Promise.all([findJava(config.javaHome), resolveKafkaClasspath(config.stackHome), freePort(), freePort()]);
    const certificates = kind === 'tls' ? await createCertificates(dir) : undefined;
    const { listener, formatArgs, env: clientEnv, adminEnv: adminClientEnv } = certificates ? tlsListener(certificates) : scramListener(kind === 'scram-acl');
    const env = { KAFKA_BROKERS: `127.0.0.1:${port}`, ...clientEnv };
    const adminEnv = adminClientEnv && { KAFKA_BROKERS: `127.0.0.1:${port}`, ...adminClientEnv };
    const propsFile = writeBrokerFiles(dir, brokerProperties({ port, controllerPort, dataDir: path.join(dir, 'data'), listener }));
    await formatStorage(java, classpath, dir, propsFile, formatArgs);
    const pid = startDaemon({ command: java, args: brokerJavaArgs(TEST_BROKER_JVM, dir, classpath, propsFile), cwd: dir, logFile: path.join(dir, 'stdout.log'), pidFile });
    await waitFor(`Kafka with a ${listener.protocol} listener on 127.0.0.1:${port}`, () => answers(adminEnv ?? env), {
      timeoutMs: JVM_START_TIMEOUT_MS,
      logFile: path.join(dir, 'broker.log'),
      isAlive: () => isProcessAlive(pid),
      report: () => undefined,
    });
    return { env, certificates, adminEnv, stop };
  } catch (error) {
    // Its log goes with its folder: keep the end of it in the test's output.
    const log = path.join(dir, 'broker.log');
    if (fs.existsSync(log)) process.stderr.write(fs.readFileSync(log, 'utf8').slice(-3000));
    await stop();
    throw error;
  }
}

/** The broker accepts a client with these settings and knows its controller (one attempt: the caller polls). */
async function answers(env: Record<string, string>): Promise<boolean> {
  const admin = createKafka(loadConfig(env).kafka, createLogger('silent'), 'secured-broker-health', 0).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).controller !== null;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
