// Brings up what the integration tests need, in this order of preference:
// 1. services named by the environment (all of KAFKA_BROKERS, SCHEMA_REGISTRY_URL, DATABASE_URL,
//    SMTP_URL, SMTP_INBOX_URL) are used as they are;
// 2. otherwise, where a Docker engine answers, containers started with testcontainers;
// 3. otherwise the local stack (Kafka and the registry from Maven Central, MailDev, local Postgres).
// Endpoints reach the test workers through process.env; teardown stops only what setup started.
// The worker is built once, for the tests that run it as a process.
import { loadStackConfig } from './stack/stack-config';
import { stackDown, stackUp, type StackEndpoints } from './stack/local-stack';
import { ensureDatabase } from './stack/postgres';
import { ensureBuilt } from './support/build';
import { dockerAnswers, startContainers } from './support/containers';

const ENDPOINT_VARIABLES: Array<keyof StackEndpoints> = ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'DATABASE_URL', 'SMTP_URL', 'SMTP_INBOX_URL'];
const TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/card_approvals_test';

declare global {
  var __stackTeardown: (() => Promise<void>) | undefined;
}

export default async function globalSetup(): Promise<void> {
  const began = Date.now();
  // Worker processes start from the build; it is made once here, beside the stack's start.
  const build = ensureBuilt();
  let mode: string;
  if (ENDPOINT_VARIABLES.every((name) => process.env[name])) {
    mode = 'services from the environment';
    await ensureDatabase(process.env.DATABASE_URL!);
  } else if (await dockerAnswers()) {
    mode = 'testcontainers';
    const { endpoints, stop } = await startContainers();
    Object.assign(process.env, endpoints);
    globalThis.__stackTeardown = stop;
  } else {
    mode = 'local stack';
    const config = loadStackConfig({ ...process.env, DATABASE_URL: process.env.DATABASE_URL ?? TEST_DATABASE_URL });
    const result = await stackUp(config);
    Object.assign(process.env, result.endpoints);
    globalThis.__stackTeardown = async () => void (await stackDown(config, result.started));
    mode += ` (started: ${result.started.join(', ') || 'nothing'}; reused: ${result.reused.join(', ') || 'nothing'})`;
  }
  await build;
  process.stdout.write(`\n[test stack] ${mode}, ready in ${((Date.now() - began) / 1000).toFixed(1)}s\n`);
}
