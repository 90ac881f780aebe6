// What the worker writes to its log: ids and codes, never what a request, a card, a decision or
// an email says.
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { aCard, aDecision, aPerson, aRequest } from '../support/builders';
import { waitForEmails } from '../support/inbox';
import { startHarness, type Harness } from '../support/test-worker';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness({ LOG_LEVEL: 'debug' });
  await harness.startWorker();
});
afterAll(() => harness?.stop());

test('when a request is opened and rejected, then the log names its ids but holds no description, card data, reason, names or addresses', async () => {
  const marker = randomUUID().slice(0, 8);
  const holder = aPerson('holder', { name: `Holder Name ${marker}` });
  const request = aRequest('DEACTIVATE_CARD', {
    description: `description-${marker}`,
    cards: [aCard(holder, { serialNumber: `SERIAL-${marker}` })],
    requester: aPerson('requester', { name: `Requester Name ${marker}` }),
  });
  const rejection = aDecision(request, 'REJECTED', { reason: `reason-${marker}` });
  await harness.publishRequest(request, rejection);
  await harness.waitForEvents(request.requestId, 2);
  await waitForEmails(request.requester.email, 1);

  const log = fs.readFileSync(harness.logFile, 'utf8');
  expect(log).toContain(request.requestId);
  for (const secret of [request.description!, `SERIAL-${marker}`, holder.name, holder.email, request.requester.name, request.requester.email, `reason-${marker}`, request.approvers[0]!.email]) {
    expect({ secret, found: log.includes(secret) }).toEqual({ secret, found: false });
  }
});
