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

/** Deletes a test's topics, so the broker does not grow with every run (its start-up slows with each partition). */
export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const ours = topics.filter((t) => existing.has(t));
    if (ours.length > 0) await admin.deleteTopics({ topics: ours, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}
