/**
 * One idem scenario of `idem bench`: `idem consume` in its own process with the
 * ledger example, on a topic, consumer group, task queue and database of its own,
 * fed a ledger stream (unique events, duplicates, keys). Latency runs from the
 * moment the producer sent an event to its committed effect (`processed_at` of its
 * dedup row, written in the same transaction as the ledger entry).
 */
import crypto from 'node:crypto';
import { Connection } from '@temporalio/client';
import { migrations as ledgerMigrations } from '../../examples/ledger';
import { createKafka } from '../app';
import type { Config } from '../config';
import { dlqTopicFor } from '../dlq/topic';
import { dedupKeyFor } from '../events/identity';
import { groupLag } from '../observability/lag';
import { silentLogger } from '../observability/logger';
import { ensureTopics } from '../stack/kafka';
import { temporalClient, temporalConnectionOptions } from '../temporal/connection';
import { createTestDatabase } from '../testing';
import { createLatencyRecorder, latencyOverTime, steadyRate, throughputSeries } from './histogram';
import { histogramSummary, metricValue, startIdemConsume, type IdemChild } from './idem-process';
import { STAGES } from '../observability/metrics';
import { planStream, toMessage, type StreamSpec } from './ledger-events';
import { cpuSeconds, peakRssMiB } from './process-usage';
import { measureServers } from './server-usage';
import { produce } from './producer';
import type { ScenarioResult, WarmupSplit } from './types';

export interface IdemScenarioOptions {
  name: string;
  config: Config;
  events: number;
  /** Offered rate in events/s; 'max' pre-produces a backlog and measures how fast it drains. */
  rate: number | 'max';
  duplicateShare: number;
  keys: number;
  hotKeys: number;
  payloadBytes: number;
  ordering: boolean;
  onProgress?: (settled: number, total: number) => void;
  /** Extra configuration for the idem process (`--idem-env`). */
  idemEnv?: Record<string, string>;
  /** Write a V8 CPU profile of the idem process here. */
  cpuProfDir?: string;
  /** NODE_OPTIONS of the idem process (`--idem-node-options`); inherited when absent. */
  nodeOptions?: string;
  /** Paced runs: the latency of the events emitted in these first seconds is also reported apart
   * (`warmup`). 0 or absent: no split. */
  warmupSeconds?: number;
}

export async function runIdemScenario(o: IdemScenarioOptions): Promise<ScenarioResult> {
  const run = crypto.randomBytes(4).toString('hex');
  const topic = `bench-${run}`;
  const outboxTopic = `${topic}.outbox`;
  const spec: StreamSpec = {
    events: o.events,
    duplicateShare: o.duplicateShare,
    keys: o.keys,
    hotKeys: o.hotKeys,
    payloadBytes: o.payloadBytes,
    source: `bench-${run}`,
  };
  const stream = planStream(spec);
  const unique = stream.filter((e) => !e.duplicate).length;
  const kafka = createKafka(o.config, silentLogger, `bench-${run}`);
  await ensureTopics(o.config.kafka.brokers, [
    { topic, numPartitions: 6 },
    { topic: dlqTopicFor(topic), numPartitions: 1 },
    { topic: outboxTopic, numPartitions: 1 },
  ]);
  const db = await createTestDatabase({
    prefix: 'bench',
    migrations: ledgerMigrations ? [ledgerMigrations] : [],
  });
  const groupId = `bench-${run}`;
  const env = {
    KAFKA_BROKERS: o.config.kafka.brokers.join(','),
    TEMPORAL_ADDRESS: o.config.temporal.address,
    TEMPORAL_NAMESPACE: o.config.temporal.namespace,
    DATABASE_URL: db.url,
    KAFKA_TOPICS: topic,
    KAFKA_GROUP_ID: groupId,
    TEMPORAL_TASK_QUEUE: `bench-${run}`,
    IDEM_OUTBOX_TOPIC: outboxTopic,
    IDEM_ORDERING: String(o.ordering),
    ...o.idemEnv,
  };
  const send = () =>
    produce({
      kafka,
      topic,
      count: stream.length,
      rate: o.rate,
      makeMessage: (i) => toMessage(stream[i] as (typeof stream)[number], spec),
    });
  let proc: IdemChild | undefined;
  const connection = await Connection.connect(temporalConnectionOptions(o.config));
  try {
    // Backlog ('max'): everything is in Kafka before idem starts. Either way the clock starts
    // once idem is running; a paced producer starts with it.
    const backlog = o.rate === 'max' ? await send() : undefined;
    proc = await startIdemConsume(env, {
      nodeArgs: o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [],
      ...(o.nodeOptions !== undefined ? { nodeOptions: o.nodeOptions } : {}),
    });
    // The clock starts once its consumer owns the partitions, as the baselines' clocks start at
    // their first call: joining the group (seconds) is start-up, not per-event work.
    const launched = Date.now();
    await proc.joined;
    const began = Date.now();
    const sending = backlog ? Promise.resolve(backlog) : send();
    const cpuBefore = cpuSeconds(proc.pid) ?? 0;
    const servers = measureServers(o.config);
    // Settled: every unique event applied and every record's offset committed. Polled every
    // 250 ms, and every 20 ms once nearly done: the end is read within 20 ms, as the baselines
    // read theirs at once (a 250 ms poll added 125 ms on average to idem's clock).
    for (;;) {
      const { rows } = await db.pool.query<{ n: number }>(
        "select count(*)::int as n from processed_events where status = 'applied'",
      );
      const applied = rows[0]?.n ?? 0;
      o.onProgress?.(applied, unique);
      if (applied >= unique) {
        const lag = await groupLag(kafka, groupId, topic);
        const committed = lag.reduce((n, p) => n + Number(p.end - p.lag), 0);
        if (committed >= stream.length && lag.every((p) => p.lag === 0n)) break;
      }
      await new Promise((r) => setTimeout(r, applied >= unique * 0.98 ? 20 : 250));
    }
    const ended = Date.now();
    const serverCpu = servers(stream.length);
    const metrics = await proc.metrics();
    const usage = {
      cpuSeconds: (cpuSeconds(proc.pid) ?? cpuBefore) - cpuBefore,
      peakRssMiB: peakRssMiB(proc.pid) ?? 0,
    };
    const { rows } = await db.pool.query<{ event_id: string; at: string }>(
      "select event_id, (extract(epoch from processed_at) * 1000)::float8::text as at from processed_events where status = 'applied'",
    );
    // The first delivery of each event: its latency is measured; a duplicate's is not (it has no effect).
    const { emittedAt } = await sending;
    const firstSentAt = new Map<string, number>();
    stream.forEach((ev, i) => {
      if (!ev.duplicate) firstSentAt.set(dedupKeyFor(spec.source, ev.id), emittedAt[i] as number);
    });
    const latency = createLatencyRecorder();
    const paced = o.rate !== 'max';
    const warmupMs = paced ? (o.warmupSeconds ?? 0) * 1000 : 0;
    const [first, after] = [createLatencyRecorder(), createLatencyRecorder()];
    const overTime: [number, number][] = [];
    const appliedTimes: number[] = [];
    for (const r of rows) {
      const at = Number(r.at);
      appliedTimes.push(at);
      const sent = firstSentAt.get(r.event_id);
      if (sent === undefined) continue;
      latency.record(at - sent);
      if (warmupMs > 0) (sent - began < warmupMs ? first : after).record(at - sent);
      if (paced) overTime.push([sent - began, at - sent]);
    }
    const warmup: WarmupSplit | undefined =
      warmupMs > 0 ? { seconds: warmupMs / 1000, first: first.summary(), after: after.summary() } : undefined;
    const temporal = temporalClient(o.config, connection);
    const sample = rows.slice(0, 5).map((r) => r.event_id);
    const histories = await Promise.all(
      sample.map(async (id) => (await temporal.workflow.getHandle(id).fetchHistory()).events?.length ?? 0),
    );
    const seconds = (ended - began) / 1000;
    // A backlog's duplicates are spread evenly over it: each effect stands for stream/unique records.
    const steady = paced ? undefined : steadyRate(appliedTimes, stream.length / unique);
    return {
      name: o.name,
      kind: 'idem',
      params: {
        events: o.events,
        rate: o.rate,
        duplicateShare: o.duplicateShare,
        keys: o.hotKeys > 0 ? o.hotKeys : o.keys,
        hotKeys: o.hotKeys > 0,
        payloadBytes: o.payloadBytes,
        ordering: o.ordering,
        ...(o.nodeOptions ? { NODE_OPTIONS: o.nodeOptions } : {}),
        ...o.idemEnv,
      },
      events: stream.length,
      seconds,
      eventsPerSecond: stream.length / seconds,
      ...(steady !== undefined ? { steadyEventsPerSecond: steady } : {}),
      latency: latency.summary(),
      // From idem's own histograms (bucket-interpolated): where each event's time went.
      stages: Object.fromEntries(
        STAGES.map((stage) => [stage, histogramSummary(metrics, 'idem_event_stage_seconds', { stage })]),
      ),
      throughput: throughputSeries(appliedTimes, began),
      ...(warmup ? { warmup } : {}),
      ...(paced ? { latencyOverTime: latencyOverTime(overTime) } : {}),
      usage,
      historyEventsPerWorkflow: histories.length
        ? histories.reduce((a, b) => a + b, 0) / histories.length
        : undefined,
      extra: {
        unique,
        duplicatesTemporal: metricValue(metrics, 'idem_duplicates_total', { layer: 'temporal' }),
        duplicatesStore: metricValue(metrics, 'idem_duplicates_total', { layer: 'store' }),
        duplicatesIngest: metricValue(metrics, 'idem_duplicates_total', { layer: 'ingest' }),
        ...serverCpu,
        groupJoinSeconds: (began - launched) / 1000,
        // The clock's two ends: its start to the first committed effect (the first fetch, store
        // lookup, start and apply), and the last effect to its end (the offsets' commit).
        ...(appliedTimes.length > 0
          ? {
              firstEffectSeconds: (Math.min(...appliedTimes) - began) / 1000,
              lastEffectToEndSeconds: (ended - Math.max(...appliedTimes)) / 1000,
            }
          : {}),
        idemCpuMsPerEvent: Math.round((usage.cpuSeconds * 100000) / stream.length) / 100,
        eagerStartShare:
          metricValue(metrics, 'idem_workflows_started_eagerly_total') /
          Math.max(1, metricValue(metrics, 'idem_workflows_started_total')),
        startCallMeanMs:
          (1000 * metricValue(metrics, 'idem_workflow_start_seconds_sum')) /
          Math.max(1, metricValue(metrics, 'idem_workflow_start_seconds_count')),
      },
    };
  } finally {
    await proc?.stop();
    await connection.close();
    await db.drop().catch(() => undefined);
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic, dlqTopicFor(topic), outboxTopic] }).catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
