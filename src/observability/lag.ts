/** Consumer-group lag, asked of the broker: how far the committed offsets are behind
 * the end of each partition (for the demo, tests, and later `idem status`). */
import type { Kafka } from 'kafkajs';

export interface PartitionLag {
  partition: number;
  end: bigint;
  committed: bigint | undefined;
  lag: bigint;
}

export async function groupLag(kafka: Kafka, groupId: string, topic: string): Promise<PartitionLag[]> {
  // Leadership moves (a broker restart, a rebalance of partitions) answer retriably; ask again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await groupLagOnce(kafka, groupId, topic);
    } catch (err) {
      if (attempt >= 10 || (err as { retriable?: boolean }).retriable !== true) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

async function groupLagOnce(kafka: Kafka, groupId: string, topic: string): Promise<PartitionLag[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const byPartition = new Map((committed?.partitions ?? []).map((c) => [c.partition, c.offset]));
    return ends.map((e) => {
      const c = byPartition.get(e.partition);
      const done = c === undefined || c === '-1' ? BigInt(e.low) : BigInt(c);
      return {
        partition: e.partition,
        end: BigInt(e.high),
        committed: c === undefined || c === '-1' ? undefined : BigInt(c),
        lag: BigInt(e.high) - done,
      };
    });
  } finally {
    await admin.disconnect();
  }
}

/** True when the group has committed the end of every partition: every record was handed off. */
export async function caughtUp(kafka: Kafka, groupId: string, topic: string): Promise<boolean> {
  return (await groupLag(kafka, groupId, topic)).every((p) => p.lag === 0n);
}
