// Our partitioner against kafkajs's own DefaultPartitioner (the Java client's rule), over keys
// generated at random: of every length around the hash's 4-byte steps, ASCII and not, strings
// and bytes, and partition counts from 1 to 64. A record must land where any other producer of
// the same key would put it.
import fc from 'fast-check';
import { Partitioners, type PartitionerArgs } from 'kafkajs';
import { keyPartitioner } from '../../src/adapters/kafka/key-partitioner';

const metadata = (count: number): PartitionerArgs['partitionMetadata'] =>
  Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));

const ours = keyPartitioner();
const theirs = Partitioners.DefaultPartitioner();

test('a keyed record goes to the partition kafkajs (and the Java client) would choose, for string and byte keys', () => {
  const key = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.uuid(), fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)));
  fc.assert(
    fc.property(key, fc.integer({ min: 1, max: 64 }), (k, count) => {
      const args = { topic: 'events', partitionMetadata: metadata(count), message: { key: k, value: null } };
      expect(ours(args)).toBe(theirs(args));
    }),
    { numRuns: 5000 },
  );
});

test('a record with a partition goes there, and one without a key goes round the partitions that have a leader', () => {
  const partitions = metadata(4).map((p) => (p.partitionId === 2 ? { ...p, leader: -1 } : p));
  expect(ours({ topic: 'events', partitionMetadata: partitions, message: { key: 'k', value: null, partition: 2 } })).toBe(2);
  const chosen = Array.from({ length: 30 }, () => ours({ topic: 'events', partitionMetadata: partitions, message: { key: null, value: null } }));
  expect(new Set(chosen)).toEqual(new Set([0, 1, 3]));
});
