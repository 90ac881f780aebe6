// Hostile and broken input: each message gets its documented dead-letter reason, keeps its bytes,
// and the worker goes on with the next good message.
import { aCard, aDecision, aPerson, aRequest } from '../support/builders';
import { startHarness, type Harness } from '../support/test-worker';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness({ MAX_CARDS_PER_REQUEST: '20' });
  await harness.startWorker();
});

afterAll(async () => {
  await harness?.stop();
});

test('when a stream of hostile messages arrives, then each is dead-lettered with its reason and good messages still flow', async () => {
  const topic = harness.config.topics.requests.REQUEST_MULTIPLE_CARDS;
  const subject = `${topic}-value`;
  const valid = await harness.encodeWith(subject, 'card-operation-request', aRequest('REQUEST_MULTIPLE_CARDS'));
  const hostile: Array<{ key: string; value: Buffer | null; reason: string; detail?: RegExp }> = [
    { key: 'random-bytes', value: Buffer.from([0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]), reason: 'UNDECODABLE' },
    { key: 'truncated-avro', value: valid.subarray(0, valid.length - 7), reason: 'UNDECODABLE' },
    { key: 'wrong-magic-byte', value: Buffer.concat([Buffer.from([1]), valid.subarray(1)]), reason: 'UNDECODABLE' },
    { key: 'unknown-schema-id', value: Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xee]), valid.subarray(5)]), reason: 'UNKNOWN_SCHEMA' },
    { key: 'null-value', value: null, reason: 'EMPTY_VALUE' },
    {
      key: 'oversize-name',
      value: await harness.encodeWith(subject, 'card-operation-request', aRequest('REQUEST_MULTIPLE_CARDS', { requester: { ...aPerson('r'), name: 'x'.repeat(100_000) } })),
      reason: 'INVALID_CONTENT',
      detail: /requester.name is longer than 200/,
    },
    {
      key: 'too-many-cards',
      value: await harness.encodeWith(subject, 'card-operation-request', aRequest('REQUEST_MULTIPLE_CARDS', { cards: Array.from({ length: 21 }, () => aCard()) })),
      reason: 'INVALID_CONTENT',
      detail: /needs 1 to 20 cards, got 21/,
    },
    {
      key: 'invalid-email',
      value: await harness.encodeWith(subject, 'card-operation-request', aRequest('REQUEST_MULTIPLE_CARDS', { approvers: [{ ...aPerson('a'), email: 'not-an-address' }] })),
      reason: 'INVALID_CONTENT',
      detail: /approvers\[0\].email "not-an-address" is not a valid address/,
    },
    {
      key: 'crlf-in-email',
      value: await harness.encodeWith(subject, 'card-operation-request', aRequest('REQUEST_MULTIPLE_CARDS', { requester: { ...aPerson('r'), email: 'a@b.com\r\nBcc: all@example.com' } })),
      reason: 'INVALID_CONTENT',
      detail: /requester.email "a@b.com\\r\\nBcc/,
    },
  ];
  const runKey = `${Date.now()}`;
  for (const h of hostile) await harness.publishRaw(topic, `${h.key}-${runKey}`, h.value);
  const good = aRequest('REQUEST_MULTIPLE_CARDS');
  await harness.publishRequest(good);
  // A valid request without a key is still a valid request: the key only places it on a partition.
  const keyless = aRequest('REQUEST_MULTIPLE_CARDS');
  await harness.publishRaw(topic, null, await harness.encodeWith(subject, 'card-operation-request', keyless));

  for (const h of hostile) {
    const dead = await harness.waitForDeadLetter((d) => d.key === `${h.key}-${runKey}`);
    expect({ key: h.key, reason: dead.headers['dlq.reason'] }).toEqual({ key: h.key, reason: h.reason });
    if (h.detail) expect(dead.headers['dlq.detail']).toMatch(h.detail);
    expect(dead.value === null ? null : Buffer.compare(dead.value, h.value!)).toBe(h.value === null ? null : 0);
    expect(dead.headers['dlq.source.topic']).toBe(topic);
  }
  await harness.waitForEvents(good.requestId, 1);
  await harness.waitForEvents(keyless.requestId, 1);
});

test('when an old decision is replayed after the request closed, then nothing changes and no event is added', async () => {
  const request = aRequest('LOCK_CARD');
  const approval = aDecision(request, 'APPROVED');
  await harness.publishRequest(request, approval);
  await harness.waitForEvents(request.requestId, 2);
  await harness.publishDecision(approval); // the replay
  const marker = aDecision(request, 'REJECTED', { approver: request.approvers[1]! });
  await harness.publishDecision(marker); // processed after the replay on the same partition
  const events = await harness.waitForEvents(request.requestId, 3);
  // One event per distinct decision: the replay added none, and the marker was refused.
  expect(events.map((e) => [e.decision?.decisionId ?? null, e.refusalCode])).toEqual([
    [null, null],
    [approval.decisionId, null],
    [marker.decisionId, 'REQUEST_CLOSED'],
  ]);
  expect(events[2]!.decision!.decisionId).toBe(marker.decisionId);
});
