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

/** Deletes the registry subjects of a test's topics (soft, then for good), so the registry does not grow with every run. */
export async function deleteSubjects(registryUrl: string, topics: string[]): Promise<void> {
  for (const topic of topics) {
    const subject = encodeURIComponent(`${topic}-value`);
    for (const permanent of ['', '?permanent=true']) {
      await fetch(`${registryUrl}/subjects/${subject}${permanent}`, { method: 'DELETE', signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    }
  }
}
