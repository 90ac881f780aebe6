// Events reach the topic in the order they happened for each request, even when publish rounds
// fail mid-stream: here the events topic accepts less than the worker was told (so its sends are
// refused until they are small enough), and one request's events are too large to ever fit.
import { ConfigResourceTypes } from 'kafkajs';
import { BROKER_DEFAULT_MAX_MESSAGE_BYTES, createKafka } from '../../src/adapters/kafka/kafka-client';
import type { CardOperationRequest } from '../../src/domain/card-operation';
import { EVENT_PUBLISH_MAX_ATTEMPTS } from '../../src/entry-points/relays/event-relay';
import { createLogger } from '../../src/libraries/logger';
import { pollUntil } from '../../src/libraries/retry';
import { mintLocalToken } from '../../src/entry-points/http/auth';
import { aCard, aDecision, aPerson, aRequest } from '../support/builders';
import { TEST_AUTH_SECRET, startHarness, type Harness } from '../support/test-worker';
import { runCli } from '../support/cli';

const TOPIC_LIMIT_BYTES = 8192;
let harness: Harness;

beforeAll(async () => {
  // The worker is told the topic takes a megabyte: its first sends are refused, mid-stream.
  harness = await startHarness({ EVENTS_MAX_BATCH_BYTES: '1000000', AUTH_SECRET: TEST_AUTH_SECRET });
  await setTopicLimit(TOPIC_LIMIT_BYTES);
});
afterAll(() => harness?.stop());

async function setTopicLimit(bytes: number): Promise<void> {
  const admin = createKafka(harness.config.kafka, createLogger('silent'), 'event-order-admin').admin();
  await admin.connect();
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: harness.config.topics.events, configEntries: [{ name: 'max.message.bytes', value: String(bytes) }] }],
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * A request's event types in the order they first reached the topic. A send the broker refused
 * for one partition may have been written for another: resent, those events arrive twice, with
 * the same eventId, which consumers dedupe on. Order is judged on first arrivals.
 */
const types = (requestId: string): string[] => [...new Map(harness.eventsFor(requestId).map((e) => [e.eventId, e.type])).values()];
const threeEvents = (requestId: string, timeoutMs: number): Promise<string[]> =>
  pollUntil(async () => types(requestId), (found) => found.length >= 3, { timeoutMs, what: `3 events of ${requestId}` });

/** A request postponed by one approver, then approved by the other: three events, in this order. */
async function postponedThenApproved(request: CardOperationRequest): Promise<void> {
  await harness.publishRequest(
    request,
    aDecision(request, 'POSTPONED'),
    aDecision(request, 'APPROVED', { approver: request.approvers[1]!, decidedAt: Date.now() + 1 }),
  );
}

test('when publish rounds fail mid-stream and one request has an event too large for the topic, then every other request keeps its order, that event is parked with its reason and the events behind it wait, and after a fix they follow in order', async () => {
  const tooLarge = aRequest('REQUEST_MULTIPLE_CARDS', { cards: Array.from({ length: 80 }, () => aCard()) });
  const others = Array.from({ length: 40 }, () => aRequest('LOCK_CARD'));
  // A backlog before the worker starts, so its first rounds carry many events each.
  await postponedThenApproved(tooLarge);
  for (const request of others) await postponedThenApproved(request);
  const worker = await harness.startWorker();

  for (const request of others) await threeEvents(request.requestId, 60_000);
  for (const request of others) expect(types(request.requestId)).toEqual(['OPENED', 'POSTPONED', 'APPROVED']);

  const parked = await pollUntil(
    () => harness.db.query(`SELECT type, publish_attempts, last_error FROM approval_events WHERE request_id = $1 AND parked_at IS NOT NULL`, [tooLarge.requestId]),
    (rows: unknown[]) => rows.length > 0,
    { timeoutMs: 30_000, what: 'the oversized event parked' },
  );
  expect(parked).toEqual([{ type: 'OPENED', publish_attempts: EVENT_PUBLISH_MAX_ATTEMPTS, last_error: expect.stringMatching(/larger than the max message size/i) }]);
  const [{ waiting }] = await harness.db.query(`SELECT count(*)::int AS waiting FROM approval_events WHERE request_id = $1 AND published_at IS NULL AND parked_at IS NULL`, [tooLarge.requestId]);
  expect(waiting).toBe(2);
  expect(types(tooLarge.requestId)).toEqual([]);

  const metrics = await (await fetch(`http://127.0.0.1:${worker.httpPort}/metrics`)).text();
  expect(metrics).toMatch(/^cardapproval_events_parked_total 1$/m);
  expect(metrics).toMatch(/^cardapproval_outbox_parked\{outbox="events"\} 1$/m);

  // The operator's CLI, through the worker's API with an operator's token.
  const operator = { CARD_APPROVALS_API_URL: `http://127.0.0.1:${worker.httpPort}`, CARD_APPROVALS_TOKEN: await mintLocalToken(harness.config.auth, { ...aPerson('operator'), roles: ['operator'] }) };
  const { stdout: listed } = await runCli(operator, 'events', 'parked');
  expect(listed).toContain(tooLarge.requestId);
  expect(listed).toMatch(/2 later event\(s\) waiting/);

  // The fix: the topic takes larger events; the operator puts the parked event back.
  await setTopicLimit(BROKER_DEFAULT_MAX_MESSAGE_BYTES);
  const { stdout: unparked } = await runCli(operator, 'events', 'unpark', '--all');
  expect(unparked).toMatch(/1 event\(s\) back in the queue/);
  await threeEvents(tooLarge.requestId, 30_000);
  expect(types(tooLarge.requestId)).toEqual(['OPENED', 'POSTPONED', 'APPROVED']);
}, 120_000);
