/**
 * A fresh consumer group reading a topic from the beginning until `count` records
 * were handled: the consuming half of the Kafka baselines.
 */
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';

export interface DrainOptions {
  kafka: Kafka;
  topic: string;
  groupId: string;
  count: number;
  /** Does a batch's work; resolves once its effects are done. */
  handle(messages: KafkaMessage[], heartbeat: () => Promise<void>): Promise<void>;
  /** Commit each batch's offsets once `handle` resolved (what a hand-rolled consumer does),
   * instead of kafkajs' periodic auto-commit. */
  commitEachBatch: boolean;
  partitionsConsumedConcurrently: number;
  onProgress?(handled: number, total: number): void;
  /** Give up when nothing was handled for this long. @default 60000 */
  stallMs?: number;
}

export interface Drain {
  /** Resolves once the consumer joined its group (partitions assigned). */
  joined: Promise<void>;
  /** Resolves once `count` records were handled; rejects if the consumer fails or stalls. */
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startDrain(opts: DrainOptions): Promise<Drain> {
  const consumer: Consumer = opts.kafka.consumer({ groupId: opts.groupId });
  let handled = 0;
  let lastProgress = Date.now();
  // A rebalance re-reads from the committed offset: skip what was handled already, so every
  // record counts once.
  const seen = new Map<number, bigint>();
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  done.catch(() => undefined); // awaited by the caller; never an unhandled rejection
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));
  const stallMs = opts.stallMs ?? 60_000;
  const watchdog = setInterval(() => {
    if (Date.now() - lastProgress > stallMs)
      fail(new Error(`${opts.topic}: nothing handled for ${stallMs} ms (${handled}/${opts.count})`));
  }, 1000);
  void done.finally(() => clearInterval(watchdog)).catch(() => undefined);

  await consumer.connect();
  await consumer.subscribe({ topic: opts.topic, fromBeginning: true });
  await consumer.run({
    autoCommit: !opts.commitEachBatch,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently,
    eachBatch: async ({ batch, heartbeat }) => {
      const after = seen.get(batch.partition) ?? -1n;
      const fresh = batch.messages.filter((m) => BigInt(m.offset) > after);
      if (fresh.length === 0) return;
      try {
        await opts.handle(fresh, heartbeat);
      } catch (err) {
        fail(err);
        throw err;
      }
      const last = fresh[fresh.length - 1]?.offset as string;
      seen.set(batch.partition, BigInt(last));
      if (opts.commitEachBatch) {
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
        ]);
      }
      handled += fresh.length;
      lastProgress = Date.now();
      opts.onProgress?.(handled, opts.count);
      if (handled >= opts.count) finish();
    },
  });
  return {
    joined,
    done,
    async stop() {
      clearInterval(watchdog);
      await consumer.disconnect();
    },
  };
}
