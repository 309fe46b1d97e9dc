/**
 * Reads a topic from its beginning to the end it has when the call starts, with a
 * throwaway consumer group that commits nothing and is deleted afterwards: what
 * `idem dlq list` and the tests need, without touching any real consumer group.
 */
import crypto from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';

export async function readToEnd(
  kafka: Kafka,
  topic: string,
  each: (partition: number, message: KafkaMessage) => void,
  opts: { groupPrefix: string },
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `${opts.groupPrefix}-${crypto.randomUUID()}`;
  try {
    const ends = (await admin.fetchTopicOffsets(topic)).filter((p) => BigInt(p.high) > BigInt(p.low));
    const remaining = new Map(ends.map((p) => [p.partition, BigInt(p.high)]));
    if (remaining.size === 0) return;
    // A short fetch wait: disconnect() waits for the fetch in flight.
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
              const end = remaining.get(partition);
              if (end === undefined || BigInt(message.offset) >= end) return;
              each(partition, message);
              if (BigInt(message.offset) + 1n >= end) remaining.delete(partition);
              if (remaining.size === 0) resolve();
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
