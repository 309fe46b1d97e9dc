/**
 * Which offsets of each partition the audit reads: from the beginning (the log start) or the first
 * record at or after `--since`, up to the consumer group's committed offset, or to the end with
 * `--to-end`. Records past the committed offset and not read are counted as not yet consumed.
 */
import type { Admin } from 'kafkajs';

export interface PartitionPlan {
  topic: string;
  partition: number;
  start: bigint;
  /** The reading stops before it. */
  end: bigint;
  /** The group's committed offset; undefined when it has none (nothing consumed). */
  committed?: bigint;
  high: bigint;
  /** Records past `end` left unread (not yet consumed). */
  unread: bigint;
}

const max = (a: bigint, b: bigint) => (a > b ? a : b);
const min = (a: bigint, b: bigint) => (a < b ? a : b);

/** The plan of one partition from its offsets (pure). */
export function planPartition(
  p: {
    topic: string;
    partition: number;
    low: bigint;
    high: bigint;
    committed?: bigint;
    sinceOffset?: bigint;
  },
  toEnd: boolean,
): PartitionPlan {
  const start = min(max(p.low, p.sinceOffset ?? p.low), p.high);
  const consumedTo = p.committed === undefined ? start : min(max(p.committed, start), p.high);
  const end = toEnd ? p.high : consumedTo;
  return {
    topic: p.topic,
    partition: p.partition,
    start,
    end,
    ...(p.committed !== undefined ? { committed: p.committed } : {}),
    high: p.high,
    unread: p.high - end,
  };
}

/** The plans of a topic's partitions, asked of the broker. */
export async function planTopic(
  admin: Admin,
  topic: string,
  groupId: string,
  opts: { since?: Date; toEnd: boolean },
): Promise<PartitionPlan[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const byPartition = new Map((committed?.partitions ?? []).map((c) => [c.partition, c.offset]));
  const since = opts.since
    ? new Map(
        (await admin.fetchTopicOffsetsByTimestamp(topic, opts.since.getTime())).map((o) => [
          o.partition,
          BigInt(o.offset),
        ]),
      )
    : undefined;
  return offsets
    .map((o) => {
      const c = byPartition.get(o.partition);
      return planPartition(
        {
          topic,
          partition: o.partition,
          low: BigInt(o.low),
          high: BigInt(o.high),
          ...(c !== undefined && c !== '-1' ? { committed: BigInt(c) } : {}),
          ...(since?.has(o.partition) ? { sinceOffset: since.get(o.partition) } : {}),
        },
        opts.toEnd,
      );
    })
    .sort((a, b) => a.partition - b.partition);
}
