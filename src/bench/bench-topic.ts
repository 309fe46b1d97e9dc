/** A throwaway topic and consumer group for one Kafka scenario, removed again afterwards. */
import crypto from 'node:crypto';
import type { Kafka } from 'kafkajs';

export interface BenchTopic {
  topic: string;
  groupId: string;
  /** Deletes the group (its consumer must have left) and the topic. */
  remove(): Promise<void>;
}

export async function createBenchTopic(kafka: Kafka, prefix: string, partitions = 6): Promise<BenchTopic> {
  const name = `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: name, numPartitions: partitions, replicationFactor: 1 }],
    });
  } finally {
    await admin.disconnect();
  }
  return {
    topic: name,
    groupId: name,
    async remove() {
      const a = kafka.admin();
      await a.connect();
      try {
        // A group that never committed does not exist: nothing to delete then.
        await a.deleteGroups([name]).catch(() => undefined);
        await a.deleteTopics({ topics: [name] });
      } finally {
        await a.disconnect();
      }
    },
  };
}
