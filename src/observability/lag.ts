/** Consumer-group lag, asked of the broker: how far the committed offsets are behind
 * the end of each partition (for the demo, tests, `idem status`, and the ingester's
 * `idem_consumer_lag` gauge). */
import type { Admin, Kafka } from 'kafkajs';
import { runPeriodically } from './periodic';
import type { Gauge } from 'prom-client';

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
    return await topicLag(admin, groupId, topic);
  } finally {
    await admin.disconnect();
  }
}

/** The group's lag on every partition of one topic, with a connected admin client. A partition
 * the group never committed counts from its log start. */
export async function topicLag(admin: Admin, groupId: string, topic: string): Promise<PartitionLag[]> {
  const ends = await admin.fetchTopicOffsets(topic);
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const byPartition = new Map((committed?.partitions ?? []).map((c) => [c.partition, c.offset]));
  return ends
    .map((e) => {
      const c = byPartition.get(e.partition);
      const done = c === undefined || c === '-1' ? BigInt(e.low) : BigInt(c);
      return {
        partition: e.partition,
        end: BigInt(e.high),
        committed: c === undefined || c === '-1' ? undefined : BigInt(c),
        lag: BigInt(e.high) - done,
      };
    })
    .sort((a, b) => a.partition - b.partition);
}

export interface LagSamplerOptions {
  kafka: Kafka;
  groupId: string;
  /** The partitions to report: the ingester's assignment, asked at each sample. */
  partitions: () => { topic: string; partition: number }[];
  gauge: Gauge<'topic' | 'partition'>;
  intervalMs: number;
  /** A sample failed (the broker unreachable); the gauge keeps its last values. */
  onError?: (err: unknown) => void;
}

/**
 * Samples `idem_consumer_lag` for the ingester's own partitions every `intervalMs`, first at
 * once, over one admin client (connected again after a failure). Only the partitions owned at
 * the sample are reported: after a rebalance another member reports the others.
 */
export function startLagSampler(o: LagSamplerOptions): { stop(): Promise<void> } {
  let admin: Admin | undefined;
  const sample = async () => {
    const owned = o.partitions();
    const topics = [...new Set(owned.map((p) => p.topic))];
    if (!admin) {
      const a = o.kafka.admin();
      await a.connect();
      admin = a;
    }
    const a = admin;
    const lags = new Map<string, bigint>();
    for (const topic of topics)
      for (const p of await topicLag(a, o.groupId, topic)) lags.set(`${topic}:${p.partition}`, p.lag);
    // Computed first, then replaced at once: a scrape never sees the gauge half filled.
    o.gauge.reset();
    for (const { topic, partition } of owned) {
      const lag = lags.get(`${topic}:${partition}`);
      if (lag !== undefined) o.gauge.set({ topic, partition: String(partition) }, Number(lag));
    }
  };
  const job = runPeriodically(sample, {
    intervalMs: o.intervalMs,
    onError: async (err: unknown) => {
      o.onError?.(err);
      const a = admin;
      admin = undefined;
      await a?.disconnect().catch(() => undefined);
    },
  });
  return {
    async stop() {
      await job.stop();
      await admin?.disconnect().catch(() => undefined);
      admin = undefined;
      o.gauge.reset();
    },
  };
}

/** True when the group has committed the end of every partition: every record was handed off. */
export async function caughtUp(kafka: Kafka, groupId: string, topic: string): Promise<boolean> {
  return (await groupLag(kafka, groupId, topic)).every((p) => p.lag === 0n);
}
