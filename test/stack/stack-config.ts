// The development stack's own settings (declared as the worker's are, but not the worker's): where
// it keeps its downloads and state, the Java it runs, and MailDev's inbox, which tests read.
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/libraries/config';
import { ConfigError } from '../../src/libraries/config';
import { optional, readSettings, setting, text, url } from '../../src/libraries/config/settings';

export const STACK_SETTINGS = {
  STACK_HOME: setting({ kind: 'path', doc: 'Where the local stack keeps downloads, broker data and logs.', schema: text(), default: path.join(os.homedir(), '.cache', 'card-approval-worker', 'stack') }),
  JAVA_HOME: optional({ kind: 'path', doc: 'The Java 17+ the stack runs Kafka and the registry with (else `java` on PATH).', schema: text() }),
  SMTP_INBOX_URL: setting({ kind: 'URL (http:, https:)', doc: "MailDev's web UI and API, which tests and the demo read.", schema: url(['http:', 'https:']), default: 'http://127.0.0.1:1080' }),
};

export interface StackSettings {
  stackHome: string;
  javaHome: string | undefined;
  inboxUrl: string;
}

/** The worker's configuration, with the stack's own settings beside it. */
export type StackConfig = Config & StackSettings;

export function loadStackConfig(env: NodeJS.ProcessEnv = process.env): StackConfig {
  const problems: string[] = [];
  const v = readSettings(STACK_SETTINGS, env, false, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...loadConfig(env), stackHome: v.STACK_HOME, javaHome: v.JAVA_HOME, inboxUrl: v.SMTP_INBOX_URL };
}
