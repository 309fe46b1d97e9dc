/**
 * Reads given offset ranges of a topic's partitions, in offset order per partition, in batches,
 * with a throwaway consumer group that commits nothing and is deleted afterwards (as
 * read-to-end.ts): `idem audit` reads a topic back without touching the real consumer group.
 */
import crypto from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';

export interface OffsetRange {
  partition: number;
  /** First offset to read. */
  start: bigint;
  /** Offset to stop before. */
  end: bigint;
}

export async function readRanges(
  kafka: Kafka,
  topic: string,
  ranges: readonly OffsetRange[],
  /** Each batch of one partition, in offset order; the next waits for it. */
  onBatch: (partition: number, messages: KafkaMessage[]) => Promise<void>,
  opts: { groupPrefix: string },
): Promise<void> {
  const todo = ranges.filter((r) => r.end > r.start);
  if (todo.length === 0) return;
  // Per partition, the next offset to hand over: a batch fetched before the seek took effect, or
  // fetched again after it, hands nothing over twice.
  const next = new Map(todo.map((r) => [r.partition, r.start]));
  const ends = new Map(todo.map((r) => [r.partition, r.end]));
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `${opts.groupPrefix}-${crypto.randomUUID()}`;
  // A short fetch wait: disconnect() waits for the fetch in flight. A long session: classifying a
  // batch asks PostgreSQL and Temporal, and the group must not rebalance meanwhile.
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, sessionTimeout: 120_000 });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (err: unknown) => {
        failed = true;
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));
      consumer
        .run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: async ({ batch, heartbeat, resolveOffset, isStale }) => {
            const from = next.get(batch.partition);
            const end = ends.get(batch.partition);
            if (failed || from === undefined || end === undefined) return;
            const wanted = batch.messages.filter((m) => BigInt(m.offset) >= from && BigInt(m.offset) < end);
            try {
              for (let i = 0; i < wanted.length; i += 500) {
                await onBatch(batch.partition, wanted.slice(i, i + 500));
                await heartbeat();
              }
            } catch (err) {
              fail(err);
              return;
            }
            // The fetch position moves only with resolved offsets (nothing is committed); a batch
            // fetched before a seek still pending must not move it.
            if (!isStale() && !batch.isEmpty()) resolveOffset(batch.lastOffset());
            const last = wanted.at(-1);
            // The batch's last offset also passes over control records and compacted gaps.
            const reached = BigInt(batch.isEmpty() ? -1 : batch.lastOffset()) + 1n;
            const upTo = last ? BigInt(last.offset) + 1n : from;
            next.set(batch.partition, upTo > reached ? upTo : reached > from ? reached : from);
            if ((next.get(batch.partition) ?? 0n) >= end) {
              next.delete(batch.partition);
              if (next.size === 0) resolve();
            }
          },
        })
        .then(() => {
          for (const r of todo) consumer.seek({ topic, partition: r.partition, offset: String(r.start) });
        })
        .catch(fail);
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
