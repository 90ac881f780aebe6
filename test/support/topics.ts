import type { Kafka } from 'kafkajs';
import { ensureTopics } from '../../src/adapters/kafka/kafka-client';

/** Creates a test's own topics (one replica) through a short-lived admin client. */
export async function createTopics(kafka: Kafka, topics: string[], partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, topics, partitions, 1);
  } finally {
    await admin.disconnect();
  }
}
