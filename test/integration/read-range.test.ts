/**
 * readRanges (src/kafka/read-range.ts), what `idem audit` reads with, on the real broker: ranges
 * that start mid-partition and span many fetches hand over each offset once, in order.
 */
import crypto from 'node:crypto';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { loadConfig } from '../../src/config';
import { readRanges } from '../../src/kafka/read-range';
import { ensureTopics } from '../../src/stack/kafka';

const brokers = loadConfig().kafka.brokers;
const kafka = new Kafka({ clientId: 'test-read-range', brokers, logLevel: logLevel.NOTHING });
const topic = `t-read-range-${crypto.randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  await ensureTopics(brokers, [{ topic, numPartitions: 3 }]);
}, 60_000);

afterAll(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
});

test('ranges spanning many fetches, starting mid-partition: every offset once, in order', async () => {
  const producer = kafka.producer();
  await producer.connect();
  const value = 'x'.repeat(1024);
  // 3 MB in partition 0: a fetch brings at most 1 MB of a partition.
  for (let i = 0; i < 3000; i += 500)
    await producer.send({
      topic,
      messages: Array.from({ length: 500 }, (_, j) => ({ partition: 0, value: `${i + j} ${value}` })),
    });
  await producer.send({
    topic,
    messages: Array.from({ length: 10 }, (_, j) => ({ partition: 1, value: `${j}` })),
  });
  await producer.disconnect();

  const got = new Map<number, string[]>();
  const batches: number[] = [];
  await readRanges(
    kafka,
    topic,
    [
      { partition: 0, start: 100n, end: 2900n },
      { partition: 1, start: 0n, end: 10n },
      { partition: 2, start: 0n, end: 0n },
    ],
    async (partition, messages: KafkaMessage[]) => {
      batches.push(messages.length);
      got.set(partition, [...(got.get(partition) ?? []), ...messages.map((m) => m.offset)]);
    },
    { groupPrefix: 'test-read-range' },
  );
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => String(from + i));
  expect(got.get(0)).toEqual(range(100, 2900));
  expect(got.get(1)).toEqual(range(0, 10));
  expect(got.has(2)).toBe(false);
  expect(batches.length).toBeGreaterThan(3);
}, 120_000);
