// The pure rules the event relay relies on: which broker failures blame an event, and how a
// round is cut into sends the topic accepts.
import { KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSRequestTimeoutError } from 'kafkajs';
import { isRecordRefusal } from '../../src/adapters/kafka/kafka-client';
import { chunkByBytes, recordBytes } from '../../src/entry-points/relays/event-relay';
import { classify } from '../../src/libraries/errors';

// kafkajs builds protocol errors from the broker's error code; these are its shapes.
const tooLarge = (): KafkaJSProtocolError => new KafkaJSProtocolError({ message: 'The request included a message larger than the max message size the server will accept', type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false } as never);
const notAuthorised = (): KafkaJSProtocolError => new KafkaJSProtocolError({ message: 'Not authorized to access topics', type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false } as never);
const afterRetries = (cause: Error): KafkaJSNumberOfRetriesExceeded => new KafkaJSNumberOfRetriesExceeded(cause as never, { retryCount: 8, retryTime: 5000 } as never);

test.each<[string, () => unknown, boolean, boolean]>([
  ['a request that timed out after kafkajs gave up retrying', () => afterRetries(new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out' as never)), true, false],
  ['a message too large', tooLarge, false, true],
  ['a message too large, wrapped', () => afterRetries(tooLarge()), false, true],
  ['a topic we may not write', notAuthorised, false, false],
])('when a send fails with %s, then it is retriable=%s and blames its records=%s', (_, error, retriable, blamesRecords) => {
  expect(classify(error()).retriable).toBe(retriable);
  expect(isRecordRefusal(error())).toBe(blamesRecords);
});

test('when events are cut into sends, then order is kept, each send fits the limit, and an event over it stands alone', () => {
  const sizes = [400, 300, 500, 2000, 100, 100];
  const chunks = chunkByBytes(sizes.map((bytes, i) => ({ i, bytes })), 1000);
  expect(chunks.map((c) => c.map((x) => x.i))).toEqual([[0, 1], [2], [3], [4, 5]]);
  for (const chunk of chunks.filter((c) => c.length > 1)) expect(61 + chunk.reduce((sum, x) => sum + x.bytes, 0)).toBeLessThanOrEqual(1000);
});

test('when a record is measured, then its key, value and headers all count', () => {
  const bytes = recordBytes({ key: 'req-1', value: Buffer.alloc(1000), headers: { eventId: 'e-1', eventType: 'OPENED' } });
  expect(bytes).toBeGreaterThanOrEqual(1000 + 5 + 'eventId'.length + 3 + 'eventType'.length + 6);
  expect(bytes).toBeLessThan(1100);
});
