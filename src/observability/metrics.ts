/**
 * idem's Prometheus metrics. Names start with `idem_`; the Temporal SDK's own
 * metrics keep their `temporal_` prefix. One registry per process, created
 * explicitly (no global registration at import time) so tests can make their own.
 */
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';

export interface Metrics {
  registry: Registry;
  received: Counter<'topic'>;
  started: Counter<'topic'>;
  /** Of those, started eagerly: the first workflow task came back with the start's answer. */
  startedEagerly: Counter<'topic'>;
  duplicates: Counter<'layer'>;
  deadLettered: Counter<'reason' | 'stage'>;
  applied: Counter<'type'>;
  startErrors: Counter<'topic'>;
  offsetCommits: Counter<'topic'>;
  /** This and inFlightBytes: computed at each scrape from {@link Metrics.setIngestPartitions}' source. */
  inFlight: Gauge<'topic' | 'partition'>;
  inFlightBytes: Gauge<'topic' | 'partition'>;
  /** Partitions whose fetching is paused because their window is full. */
  pausedPartitions: Gauge;
  /** Events this process started (or found started) that have not settled yet. */
  unsettled: Gauge;
  parked: Counter<'topic'>;
  released: Counter<'topic'>;
  parkedKeys: Gauge;
  parkedEvents: Gauge;
  startLatency: Histogram;
  /** Where an event's time goes, by stage (see STAGES). */
  stageSeconds: Histogram<'stage'>;
  /** Kafka record timestamp to committed effect, for applied events. */
  eventLatency: Histogram;
  outboxPublished: Counter;
  outboxFailed: Counter;
  /** Records between the group's committed offset and the partition's end, for the partitions
   * this ingester owns (sampled from the broker). */
  consumerLag: Gauge<'topic' | 'partition'>;
  /** Age of the oldest record read and not yet committed, per owned partition (0 when none);
   * computed at each scrape from {@link Metrics.setIngestPartitions}'s source. */
  oldestUnprocessedAge: Gauge<'topic' | 'partition'>;
  /** Unpublished outbox rows (not moved aside as failed), sampled by the relay. */
  outboxBacklog: Gauge;
  /** Event workflows of this task queue the stuck-event scanner found stuck, and the oldest's age. */
  stuckEvents: Gauge;
  stuckOldestAge: Gauge;
  /** The ingester's partitions and their windows, read at each scrape (the per-partition gauges).
   * Read then rather than set per record: a gauge's `set` hashes its labels, and a record set
   * two gauges when it was read and two when it completed. Undefined stops reporting. */
  setIngestPartitions(source: (() => IngestPartition[]) | undefined): void;
}

/** One partition the ingester owns, as the per-partition gauges report it. */
export interface IngestPartition {
  topic: string;
  partition: number;
  /** Kafka timestamp (ms) of its oldest record read and not yet committed; undefined when none. */
  timestampMs: number | undefined;
  /** Records read and not yet committed. */
  inFlight: number;
  /** Bytes of records read and not yet handed off. */
  inFlightBytes: number;
}

/**
 * The stages of `idem_event_stage_seconds`, in the order an event passes them:
 * - kafka_wait: the record's Kafka timestamp to the ingester reading it;
 * - start_call: the workflow start call (also `idem_workflow_start_seconds`);
 * - schedule_to_start: the workflow run's start (as Temporal recorded it) to applyEvent's first
 *   attempt beginning: the first workflow task's dispatch, eager or through matching;
 * - apply: one applyEvent attempt that applied the event, its transaction included.
 * Timestamps from different hosts (the producer's, Temporal's) carry their clock skew.
 */
export const STAGES = ['kafka_wait', 'start_call', 'schedule_to_start', 'apply'] as const;
export type Stage = (typeof STAGES)[number];

/** Buckets from 1 ms to 60 s: a healthy stage takes milliseconds, a backlog minutes. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createMetrics(opts: { defaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaults) collectDefaultMetrics({ register: registry, prefix: 'idem_process_' });
  const r = [registry];
  let partitions: (() => IngestPartition[]) | undefined;
  /** A gauge per owned partition, computed from the ingester's partitions at each scrape. */
  const perPartition = (name: string, help: string, value: (p: IngestPartition, now: number) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['topic', 'partition'] as const,
      registers: r,
      collect() {
        if (!partitions) return;
        const now = Date.now();
        this.reset();
        for (const p of partitions())
          this.set({ topic: p.topic, partition: String(p.partition) }, value(p, now));
      },
    });
  const oldestUnprocessedAge = perPartition(
    'idem_oldest_unprocessed_age_seconds',
    'Age (now minus Kafka timestamp) of the oldest record read and not yet committed, per partition this ingester owns; 0 when none',
    (p, now) => (p.timestampMs === undefined ? 0 : Math.max(0, now - p.timestampMs) / 1000),
  );
  const inFlight = perPartition(
    'idem_ingest_in_flight',
    'Records read but not yet committed, per partition',
    (p) => p.inFlight,
  );
  const inFlightBytes = perPartition(
    'idem_ingest_in_flight_bytes',
    'Bytes of records read and not yet handed off (settled, for keyed events with ordering), per partition',
    (p) => p.inFlightBytes,
  );
  return {
    registry,
    received: perRecordCounter(
      r,
      'idem_events_received_total',
      'Kafka records read by the ingester',
      'topic',
    ),
    started: new Counter({
      name: 'idem_workflows_started_total',
      help: 'Event workflows started',
      labelNames: ['topic'],
      registers: r,
    }),
    startedEagerly: new Counter({
      name: 'idem_workflows_started_eagerly_total',
      help: "Event workflows started eagerly (the first workflow task handed to this process's worker with the start, skipping matching); the rest of idem_workflows_started_total went through matching",
      labelNames: ['topic'],
      registers: r,
    }),
    duplicates: perRecordCounter(
      r,
      'idem_duplicates_total',
      'Duplicate deliveries skipped, by the layer that caught them (temporal: workflow-ID rejected; store: processed_events)',
      'layer',
    ),
    deadLettered: new Counter({
      name: 'idem_dead_lettered_total',
      help: 'Events sent to the dead-letter topic, by reason and stage (ingest: rejected before any workflow; workflow: after retries)',
      labelNames: ['reason', 'stage'],
      registers: r,
    }),
    applied: new Counter({
      name: 'idem_events_applied_total',
      help: 'Events whose side effects were committed',
      labelNames: ['type'],
      registers: r,
    }),
    startErrors: new Counter({
      name: 'idem_workflow_start_errors_total',
      help: 'Failed workflow starts (retried with backoff)',
      labelNames: ['topic'],
      registers: r,
    }),
    offsetCommits: new Counter({
      name: 'idem_offset_commits_total',
      help: 'Kafka offset commits',
      labelNames: ['topic'],
      registers: r,
    }),
    inFlight,
    inFlightBytes,
    pausedPartitions: new Gauge({
      name: 'idem_ingest_paused_partitions',
      help: 'Partitions whose fetching is paused because their in-flight window is full',
      registers: r,
    }),
    unsettled: new Gauge({
      name: 'idem_ingest_unsettled',
      help: 'Events whose workflow this process started and that have not settled (applied or dead-lettered) yet; bounded by IDEM_MAX_UNSETTLED',
      registers: r,
    }),
    parked: new Counter({
      name: 'idem_events_parked_total',
      help: 'Events parked behind a key whose earlier event was dead-lettered (key parking)',
      labelNames: ['topic'],
      registers: r,
    }),
    released: new Counter({
      name: 'idem_events_released_total',
      help: 'Parked events started after their key was released (its dead-lettered event redriven or skipped)',
      labelNames: ['topic'],
      registers: r,
    }),
    parkedKeys: new Gauge({
      name: 'idem_parked_keys',
      help: 'Keys parked behind a dead-lettered event, in the store (every process reports the same figure)',
      registers: r,
    }),
    parkedEvents: new Gauge({
      name: 'idem_parked_events',
      help: 'Events waiting behind parked keys, in the store (every process reports the same figure)',
      registers: r,
    }),
    startLatency: new Histogram({
      name: 'idem_workflow_start_seconds',
      help: 'Time to hand an event to Temporal (start or duplicate confirmed)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: r,
    }),
    stageSeconds: new Histogram({
      name: 'idem_event_stage_seconds',
      help: 'Time events spend in each stage: kafka_wait, start_call, schedule_to_start, apply',
      labelNames: ['stage'],
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    eventLatency: new Histogram({
      name: 'idem_event_latency_seconds',
      help: "Kafka record timestamp to the event's committed effect (applied events)",
      buckets: LATENCY_BUCKETS,
      registers: r,
    }),
    outboxPublished: new Counter({
      name: 'idem_outbox_published_total',
      help: 'Outbox rows published to Kafka',
      registers: r,
    }),
    outboxFailed: new Counter({
      name: 'idem_outbox_failed_total',
      help: 'Outbox rows Kafka refused for good (missing topic, too large), moved aside with their error',
      registers: r,
    }),
    consumerLag: new Gauge({
      name: 'idem_consumer_lag',
      help: "Records between the consumer group's committed offset and the partition's high watermark, for the partitions this ingester owns (sampled from the broker every IDEM_METRICS_SAMPLE_INTERVAL_MS)",
      labelNames: ['topic', 'partition'],
      registers: r,
    }),
    oldestUnprocessedAge,
    outboxBacklog: new Gauge({
      name: 'idem_outbox_backlog',
      help: 'Outbox rows not yet published (rows moved aside as failed not counted), sampled by the relay',
      registers: r,
    }),
    stuckEvents: new Gauge({
      name: 'idem_stuck_events',
      help: "This task queue's event workflows still running past IDEM_STUCK_AFTER_MS, or waiting out a PostgreSQL outage (IdemOutcome store_unavailable), from the stuck-event scanner; every worker reports the same figure",
      registers: r,
    }),
    stuckOldestAge: new Gauge({
      name: 'idem_stuck_oldest_age_seconds',
      help: "Age of the oldest stuck event workflow (since its run's start), 0 when none; every worker reports the same figure",
      registers: r,
    }),
    setIngestPartitions(source) {
      partitions = source;
      if (!source) for (const g of [oldestUnprocessedAge, inFlight, inFlightBytes]) g.reset();
    },
  };
}

/** Serves GET /metrics; returns a function that closes the server. `append` adds another
 * exposition after idem's own (the Temporal SDK's metrics, see sdk-metrics.ts). */
export async function serveMetrics(
  registry: Registry,
  port: number,
  host = '0.0.0.0',
  readiness?: { status(): { ready: boolean; waiting: Record<string, string> } },
  append?: () => Promise<string>,
): Promise<() => Promise<void>> {
  const server = http.createServer((req, res) => {
    // /live: the process runs (restart it if this fails). /ready: every role started; while a
    // dependency is awaited at start-up, 503 with what it waits for.
    if (req.url === '/live') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"live":true}');
      return;
    }
    if (req.url === '/ready') {
      const status = readiness?.status() ?? { ready: true, waiting: {} };
      res
        .writeHead(status.ready ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify(status));
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    Promise.all([registry.metrics(), append ? append() : ''])
      .then(([own, more]) => res.writeHead(200, { 'content-type': registry.contentType }).end(own + more))
      .catch((err: Error) => res.writeHead(500).end(err.message));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return () => new Promise((resolve) => server.close(() => resolve()));
}

/** What a process did in its life, summed over labels where a label only splits it: the line an
 * operator (and the fault suite) reads when a process stops. */
export async function lifetimeTotals(m: Metrics): Promise<Record<string, number | Record<string, number>>> {
  const sum = async (c: Counter<string>) => (await c.get()).values.reduce((n, v) => n + v.value, 0);
  const byLabel = async (c: Counter<string>, label: string) => {
    const out: Record<string, number> = {};
    for (const v of (await c.get()).values) {
      const key = String(v.labels[label] ?? '');
      out[key] = (out[key] ?? 0) + v.value;
    }
    return out;
  };
  return {
    received: await sum(m.received),
    started: await sum(m.started),
    applied: await sum(m.applied),
    duplicates: await byLabel(m.duplicates, 'layer'),
    deadLettered: await byLabel(m.deadLettered, 'reason'),
  };
}

/**
 * A counter of one label that the ingester increments for every record it reads (thousands a
 * second in a backlog): prom-client validates and hashes the labels on every `inc` (4 µs of a
 * record's 40 in a profile of a duplicate-heavy drain), so an increment here only adds to a
 * number, and the counter takes the sums whenever it is read (a scrape, `get()`).
 */
function perRecordCounter<L extends string>(
  registers: Registry[],
  name: string,
  help: string,
  label: L,
): Counter<L> {
  const pending = new Map<string, number>();
  const counter: Counter<L> = new Counter<L>({
    name,
    help,
    labelNames: [label],
    registers,
    collect() {
      for (const [value, n] of pending) inc({ [label]: value } as LabelValues<L>, n);
      pending.clear();
    },
  });
  const inc = counter.inc.bind(counter) as (labels?: LabelValues<L> | number, value?: number) => void;
  counter.inc = ((labels?: LabelValues<L> | number, value: number = 1) => {
    const v = typeof labels === 'object' ? labels[label] : undefined;
    // Anything else (no label, another label, a bad value) goes to prom-client, which checks it.
    if (v === undefined || !(value >= 0) || !onlyKey(labels as object, label)) return inc(labels, value);
    const key = String(v);
    pending.set(key, (pending.get(key) ?? 0) + value);
  }) as Counter<L>['inc'];
  const reset = counter.reset.bind(counter);
  counter.reset = () => {
    pending.clear();
    reset();
  };
  return counter;
}

/** Whether `name` is the object's only own enumerable key (without building the list of keys). */
function onlyKey(o: object, name: string): boolean {
  for (const k in o) if (k !== name && Object.hasOwn(o, k)) return false;
  return true;
}
