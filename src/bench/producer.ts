/**
 * The bench's producer: records sent on an open-loop schedule (`rate` per second, in
 * small batches per tick, without waiting for acknowledgements) or as fast as the
 * broker acknowledges (`'max'`, to pre-produce a backlog). Each record carries the
 * moment it was handed to Kafka in the `bench-emitted-at` header (ms since the epoch),
 * so a consumer in any process can measure emission to effect.
 */
import { Partitioners, type Kafka, type Message } from 'kafkajs';
import { dueCount, sendOffsetMs } from './pacing';

export const EMITTED_AT_HEADER = 'bench-emitted-at';

export interface ProduceOptions {
  kafka: Kafka;
  topic: string;
  count: number;
  /** Records per second on a fixed schedule, or 'max': back to back, a few batches in flight. */
  rate: number | 'max';
  makeMessage(i: number): Message;
  /** Called with the records acknowledged so far. */
  onProgress?(acked: number, total: number): void;
  /** Most records in one send. @default 500 */
  maxBatch?: number;
}

export interface ProduceResult {
  /** Date.now() when record i was handed to the producer: the value of its header. */
  emittedAt: number[];
  /** How far behind its schedule the producer fell at worst, in ms (0 with 'max'). */
  maxLagMs: number;
  /** From the first send to the last acknowledgement. */
  seconds: number;
}

/** With 'max', this many sends may await their acknowledgement at once. */
const MAX_IN_FLIGHT = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The emission time a consumer reads back from a record, or undefined if it has none. */
export function emittedAtOf(headers: Message['headers']): number | undefined {
  const raw = headers?.[EMITTED_AT_HEADER];
  const value = Array.isArray(raw) ? raw[0] : raw;
  return value === undefined ? undefined : Number(value.toString());
}

export async function produce(opts: ProduceOptions): Promise<ProduceResult> {
  const { count, rate } = opts;
  const maxBatch = opts.maxBatch ?? 500;
  const producer = opts.kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const emittedAt = new Array<number>(count);
  const inFlight = new Set<Promise<void>>();
  let acked = 0;
  let failure: unknown;
  let maxLagMs = 0;

  const send = (from: number, to: number) => {
    const now = Date.now();
    const messages: Message[] = [];
    for (let i = from; i < to; i++) {
      const m = opts.makeMessage(i);
      emittedAt[i] = now;
      messages.push({ ...m, headers: { ...m.headers, [EMITTED_AT_HEADER]: String(now) } });
    }
    const p: Promise<void> = producer
      .send({ topic: opts.topic, messages })
      .then(() => {
        acked += to - from;
        opts.onProgress?.(acked, count);
      })
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  const began = performance.now();
  try {
    let sent = 0;
    while (sent < count && failure === undefined) {
      if (rate === 'max') {
        if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
        const to = Math.min(count, sent + maxBatch);
        send(sent, to);
        sent = to;
        continue;
      }
      const elapsed = performance.now() - began;
      const due = dueCount(elapsed, rate, count);
      if (due > sent) {
        maxLagMs = Math.max(maxLagMs, elapsed - sendOffsetMs(sent, rate));
        const to = Math.min(due, sent + maxBatch);
        send(sent, to);
        sent = to;
      }
      if (sent < count) {
        const wait = sendOffsetMs(sent, rate) - (performance.now() - began);
        await sleep(Math.max(0, wait));
      }
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    return { emittedAt, maxLagMs, seconds: (performance.now() - began) / 1000 };
  } finally {
    await Promise.allSettled(inFlight);
    await producer.disconnect();
  }
}
