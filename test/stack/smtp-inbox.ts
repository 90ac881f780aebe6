// A real SMTP server with an inbox API for development and tests: MailDev from npm.
// SMTP on one port; the web UI and REST API (GET /email) on another.
import fs from 'node:fs';
import path from 'node:path';
import { NODE_START_TIMEOUT_MS, StackError, isPortOpen, reportToStderr, startService, type Report } from './processes';

export interface SmtpInboxOptions {
  home: string;
  smtpPort: number;
  webPort: number;
  report?: Report;
}

export async function isInboxHealthy(webPort: number, smtpPort: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${webPort}/api/healthz`, { signal: AbortSignal.timeout(1000) });
    return res.ok && (await isPortOpen(smtpPort));
  } catch {
    return false;
  }
}

/** MailDev is ESM-only and exports no bin path, so look for it along the module search paths. */
function findMaildevBin(): string {
  for (const dir of require.resolve.paths('maildev') ?? []) {
    const candidate = path.join(dir, 'maildev', 'dist', 'bin', 'maildev.js');
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new StackError('MailDev is not installed; run npm ci');
}

export function startSmtpInbox(opts: SmtpInboxOptions): Promise<{ started: boolean }> {
  return startService({
    service: 'smtp inbox',
    runDir: opts.home,
    ports: [opts.smtpPort, opts.webPort],
    healthy: () => isInboxHealthy(opts.webPort, opts.smtpPort),
    timeoutMs: NODE_START_TIMEOUT_MS,
    report: opts.report ?? reportToStderr,
    prepare: async () => ({
      what: `MailDev (SMTP on 127.0.0.1:${opts.smtpPort}, inbox on 127.0.0.1:${opts.webPort})`,
      command: process.execPath,
      args: [findMaildevBin(), '--smtp', String(opts.smtpPort), '--ip', '127.0.0.1', '--web', String(opts.webPort), '--web-ip', '127.0.0.1', '--max-emails', '200000'],
      cwd: opts.home,
      logFile: path.join(opts.home, 'maildev.log'),
    }),
  });
}
