// Email leases that cover the work: two workers share one outbox, and the SMTP server is slow
// enough that one relay's claim takes several leases to send. Each email must still be sent once.
import { SMTPServer } from 'smtp-server';
import { pollUntil } from '../../src/libraries/retry';
import { aRequest } from '../support/builders';
import { freePort } from '../support/ports';
import { startHarness, type Harness } from '../support/test-worker';

const SEND_MS = 300;
let harness: Harness;
let server: SMTPServer;
const received: string[] = []; // Message-IDs, in the order the server accepted them

beforeAll(async () => {
  const port = await freePort();
  // A real SMTP server that takes SEND_MS to accept each message.
  server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      let raw = '';
      stream.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      stream.on('end', () => {
        setTimeout(() => {
          received.push(/^message-id:\s*(\S+)/im.exec(raw)?.[1] ?? '?');
          callback();
        }, SEND_MS);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  // 2 connections x 300 ms: a claim of 40 emails takes 6 s to send, more than its 4 s lease. A
  // send starts only with 2 s of lease left (SMTP_SEND_TIMEOUT_MS), so a busy machine's pauses
  // (seconds, when the suites run side by side on 2 cores) fit inside the margin.
  harness = await startHarness({ SMTP_URL: `smtp://127.0.0.1:${port}?tls=off`, SMTP_MAX_CONNECTIONS: '2', OUTBOX_LEASE_MS: '4000', SMTP_SEND_TIMEOUT_MS: '2000' });
});
afterAll(async () => {
  await harness?.stop();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

test('when a relay claims more emails than it can send within one lease, then it renews the lease as it goes and another relay never sends them again', async () => {
  const [first, second] = [await harness.startWorker(), await harness.startWorker()];
  const requests = Array.from({ length: 20 }, () => aRequest('LOCK_CARD'));
  await Promise.all(requests.map((r) => harness.publishRequest(r)));

  const sent = await pollUntil(
    () => harness.db.query(`SELECT message_id FROM email_outbox WHERE status = 'SENT'`),
    (rows: unknown[]) => rows.length === 40,
    { timeoutMs: 60_000, what: '40 approver emails marked sent' },
  );
  expect(sent).toHaveLength(40);
  expect(received).toHaveLength(40);
  expect(new Set(received).size).toBe(40);

  const leasesLost = async (port: number): Promise<string | undefined> =>
    /^cardapproval_email_leases_lost_total (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1];
  expect([await leasesLost(first.httpPort), await leasesLost(second.httpPort)]).toEqual(['0', '0']);
}, 90_000);
