// What every delivered email says about itself, read from the real SMTP inbox: that a program sent
// it (so auto-responders stay quiet), and where replies go when EMAIL_REPLY_TO is set.
import { aRequest } from '../support/builders';
import { deliveredHeaders, waitForEmails } from '../support/inbox';
import { startHarnessWithWorker, type Harness } from '../support/test-worker';

let harness: Harness;
beforeAll(async () => {
  ({ harness } = await startHarnessWithWorker({ EMAIL_REPLY_TO: 'card-desk@example.com' }));
});
afterAll(() => harness?.stop());

test('when EMAIL_REPLY_TO is set, then an approver email arrives marked auto-generated, with replies suppressed and going to that address', async () => {
  const request = aRequest('LOCK_CARD');
  await harness.publishRequest(request);
  const [email] = (await waitForEmails(request.approvers[0]!.email, 1)).filter((e) => e.subject.includes(request.requestId));
  expect(await deliveredHeaders(email!)).toMatchObject({ 'auto-submitted': 'auto-generated', 'x-auto-response-suppress': 'All', 'reply-to': 'card-desk@example.com' });
});
