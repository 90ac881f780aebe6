// Starts the test OpenID Connect provider (oidc-provider.mjs beside this file) as a process of its
// own: the package is ESM-only and jest loads CommonJS. Resolves once it says it is listening.
import { spawn } from 'node:child_process';
import path from 'node:path';

export interface OidcAccount {
  id: string;
  password: string;
  name: string;
  email: string;
  roles: string[];
}

export interface OidcProviderSettings {
  port: number;
  /** The one registered client: the worker under test. Without a secret it is a public client. */
  client: { id: string; secret?: string; redirectUri: string };
  /** The resource indicator of the approvals API, and the audience and scope of its access tokens. */
  resource: string;
  audience: string;
  scope: string;
  accounts: OidcAccount[];
}

export interface TestOidcProvider {
  issuer: string;
  jwksUrl: string;
  stop(): Promise<void>;
}

export async function startOidcProvider(settings: OidcProviderSettings, timeoutMs = 20_000): Promise<TestOidcProvider> {
  const child = spawn(process.execPath, [path.join(__dirname, 'oidc-provider.mjs')], {
    env: { ...process.env, OIDC_TEST_PROVIDER: JSON.stringify(settings) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const issuer = await new Promise<string>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => fail(`did not listen within ${timeoutMs / 1000}s`), timeoutMs);
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`the test OIDC provider ${why}:\n${output.slice(-3000)}`));
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const line = /^\{"listening":"[^"]+"\}$/m.exec(output)?.[0];
      if (!line || settled) return;
      settled = true;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { listening: string }).listening);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('close', (code, signal) => fail(`exited (${code ?? signal}) before listening`));
  });
  const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
  return {
    issuer,
    jwksUrl: discovery.jwks_uri,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
