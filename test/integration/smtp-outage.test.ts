// Email delivery survives an SMTP outage: the emails wait in the outbox, retried with backoff,
// and arrive once the server is reachable again, each exactly once.
import net from 'node:net';
import { aRequest } from '../support/builders';
import { pollUntil } from '../../src/libraries/retry';
import { emailsTo, waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';

let harness: Harness;
let smtpPort: number;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Forwards `port` to the real SMTP server: "the SMTP server comes back". */
async function restoreSmtp(port: number): Promise<{ stop: () => Promise<void> }> {
  const target = new URL(process.env.SMTP_URL!);
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const close = (): void => void (client.destroy(), upstream.destroy());
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
  return {
    // Also cuts the worker's pooled connection, which close() alone would wait for.
    stop: async () => {
      const closed = new Promise((resolve) => proxy.close(resolve));
      sockets.forEach((socket) => socket.destroy());
      await closed;
    },
  };
}

beforeAll(async () => {
  smtpPort = await freePort();
  harness = await startHarness({ SMTP_URL: `smtp://127.0.0.1:${smtpPort}` });
  await harness.startWorker();
});

afterAll(async () => {
  await harness?.stop();
});

test('when SMTP is down, then approver emails wait in the outbox and are delivered once it is back', async () => {
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  await harness.waitForEvents(request.requestId, 1);

  const failing = await pollUntil(
    () => harness.db.query(`SELECT status, attempts, last_error FROM email_outbox ORDER BY id`),
    (rows: Array<{ status: string; attempts: number; last_error: string | null }>) =>
      rows.length === 2 && rows.every((r) => r.status === 'PENDING' && r.attempts >= 1 && r.last_error !== null),
    { what: 'failed delivery attempts to be recorded' },
  );
  expect(failing[0]!.last_error).toMatch(/SMTP send failed/);

  const proxy = await restoreSmtp(smtpPort);
  try {
    for (const approver of request.approvers) await waitForEmails(approver.email, 1, 60_000);
    await pollUntil(
      () => harness.db.query(`SELECT count(*)::int AS sent FROM email_outbox WHERE status = 'SENT'`),
      (rows: Array<{ sent: number }>) => rows[0]?.sent === 2,
      { what: 'both emails marked sent' },
    );
    for (const approver of request.approvers) expect(await emailsTo(approver.email)).toHaveLength(1);
  } finally {
    await proxy.stop();
  }
}, 90_000);
