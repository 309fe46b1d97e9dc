/**
 * How the Kafka baselines run, shared by baseline-kafka and baseline-direct (which
 * differ only in what a record's effect is):
 *
 * - backlog (`rate` 'max', the default): every record is produced first, then a fresh
 *   group drains the topic. The rate is records / (last effect − consumer start), so
 *   it includes connecting and joining the group (`consumerStartToFirstMs` in extra says how much);
 *   `firstToLastMs` leaves that out. Latency is emission to effect, which for
 *   a backlog is mostly time spent queued: read it as a drain time, not a latency.
 * - paced (`rate` a number): the consumer joins first, then the producer sends on an
 *   open-loop schedule while it consumes. The rate is records / (last effect − first
 *   emission) and the latency is meaningful.
 */
import crypto from 'node:crypto';
import type { KafkaMessage, Message } from 'kafkajs';
import { createKafka } from '../app';
import type { Config } from '../config';
import { silentLogger } from '../observability/logger';
import { createBenchTopic } from './bench-topic';
import { startDrain } from './drain';
import { createLatencyRecorder, throughputSeries } from './histogram';
import { emittedAtOf, produce, type ProduceResult } from './producer';
import type { ScenarioKind, ScenarioResult } from './types';

export const PARTITIONS = 6;

export interface KafkaScenarioOptions {
  count: number;
  /** Approximate size of each record's value in bytes. */
  payloadBytes: number;
  /** @default 'max' (a pre-produced backlog) */
  rate?: number | 'max';
  config: Config;
  onProgress?(done: number, total: number): void;
}

export interface KafkaScenarioSpec {
  name: string;
  kind: ScenarioKind;
  commitEachBatch: boolean;
  /** A batch's effects; resolves with the time (Date.now()) each record's effect was done. */
  handle(messages: KafkaMessage[], heartbeat: () => Promise<void>): Promise<number[]>;
}

/** A record of the baselines: a JSON object with a unique `id`, padded to about `payloadBytes`. */
export function benchRecord(runId: string, i: number, payloadBytes: number): Message {
  const base = JSON.stringify({ id: `${runId}-${i}`, pad: '' });
  const pad = 'x'.repeat(Math.max(0, payloadBytes - Buffer.byteLength(base)));
  return { value: JSON.stringify({ id: `${runId}-${i}`, pad }) };
}

export async function runKafkaScenario(
  opts: KafkaScenarioOptions,
  spec: KafkaScenarioSpec,
): Promise<ScenarioResult> {
  const { count, payloadBytes, config } = opts;
  const rate = opts.rate ?? 'max';
  const backlog = rate === 'max';
  const kafka = createKafka(config, silentLogger, 'idem-bench');
  const bench = await createBenchTopic(kafka, spec.kind, PARTITIONS);
  const runId = crypto.randomBytes(4).toString('hex');
  const makeMessage = (i: number) => benchRecord(runId, i, payloadBytes);
  const latency = createLatencyRecorder();
  const settledAt: number[] = [];
  let missingStamp = 0;
  try {
    let produced: ProduceResult | undefined;
    if (backlog) produced = await produce({ kafka, topic: bench.topic, count, rate: 'max', makeMessage });
    const consumerStart = Date.now();
    const drain = await startDrain({
      kafka,
      topic: bench.topic,
      groupId: bench.groupId,
      count,
      commitEachBatch: spec.commitEachBatch,
      partitionsConsumedConcurrently: PARTITIONS,
      onProgress: opts.onProgress,
      handle: async (messages, heartbeat) => {
        const times = await spec.handle(messages, heartbeat);
        messages.forEach((m, j) => {
          const at = times[j] as number;
          const emitted = emittedAtOf(m.headers);
          if (emitted === undefined) missingStamp++;
          else latency.record(at - emitted);
          settledAt.push(at);
        });
      },
    });
    try {
      if (!backlog) {
        await Promise.race([drain.joined, drain.done]);
        produced = await produce({ kafka, topic: bench.topic, count, rate, makeMessage });
      }
      await drain.done;
    } finally {
      await drain.stop();
    }

    // Loops, not Math.min(...xs): spreading a few hundred thousand arguments overflows the stack.
    const first = settledAt.reduce((a, b) => Math.min(a, b), Infinity);
    const last = settledAt.reduce((a, b) => Math.max(a, b), -Infinity);
    const firstEmission = (produced?.emittedAt ?? [consumerStart]).reduce((a, b) => Math.min(a, b), Infinity);
    const startedAt = backlog ? consumerStart : firstEmission;
    const seconds = (last - startedAt) / 1000;
    const extra: Record<string, number | string> = {
      mode: backlog ? 'backlog' : 'paced',
      firstToLastMs: last - first,
      produceSeconds: produced?.seconds ?? 0,
    };
    if (backlog) extra.consumerStartToFirstMs = first - consumerStart;
    else extra.producerMaxLagMs = produced?.maxLagMs ?? 0;
    if (missingStamp > 0) extra.missingEmissionStamp = missingStamp;
    return {
      name: spec.name,
      kind: spec.kind,
      params: { records: count, payloadBytes, rate, partitions: PARTITIONS },
      events: settledAt.length,
      seconds,
      eventsPerSecond: seconds > 0 ? settledAt.length / seconds : 0,
      latency: latency.summary(),
      throughput: throughputSeries(settledAt, startedAt),
      extra,
    };
  } finally {
    await bench.remove();
  }
}
