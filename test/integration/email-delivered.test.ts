// What a delivered email says, read from the real SMTP inbox: that a program sent it (so
// auto-responders stay quiet), where replies go when EMAIL_REPLY_TO is set, and, to an approver,
// when the request expires.
import { aRequest } from '../support/builders';
import { deliveredHeaders, waitForEmails } from '../support/inbox';
import { startHarnessWithWorker, type Harness } from '../support/test-worker';

let harness: Harness;
beforeAll(async () => {
  ({ harness } = await startHarnessWithWorker({ EMAIL_REPLY_TO: 'card-desk@example.com' }));
});
afterAll(() => harness?.stop());

const minute = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

test('when EMAIL_REPLY_TO is set, then an approver email arrives marked auto-generated, with replies suppressed and going to that address', async () => {
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  const [email] = (await waitForEmails(request.approvers[0]!.email, 1)).filter((e) => e.subject.includes(request.requestId));
  expect(await deliveredHeaders(email!)).toMatchObject({ 'auto-submitted': 'auto-generated', 'x-auto-response-suppress': 'All', 'reply-to': 'card-desk@example.com' });
});

test('when a request without a due date opens under a policy that expires it (14 days by default), then its approvers are told when it expires', async () => {
  const request = aRequest('DEACTIVATE_CARD', { dueAt: null });
  await harness.publishRequest(request);
  const [email] = (await waitForEmails(request.approvers[0]!.email, 1)).filter((e) => e.subject.includes(request.requestId));
  const [timer] = await harness.db.query('SELECT expire_at FROM approval_timers WHERE request_id = $1', [request.requestId]);
  const [record] = await harness.db.query('SELECT opened_at FROM approval_requests WHERE request_id = $1', [request.requestId]);
  const expiresAt = new Date(timer.expire_at).getTime();
  expect(expiresAt).toBe(new Date(record.opened_at).getTime() + 14 * 86_400_000);
  expect(email!.text).toContain(`Expires: ${minute(expiresAt)}`);
  expect(email!.text).not.toContain('Needed by');
  expect(email!.html).toContain(`<strong>${minute(expiresAt)}</strong>`);
});
