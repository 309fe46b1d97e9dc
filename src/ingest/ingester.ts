/**
 * The Kafka side of idem: a kafkajs consumer group whose records are handed off
 * to Temporal (hand-off.ts), with offsets committed only below the oldest record
 * not yet handed off (watermark.ts, committer.ts).
 *
 * Offsets move only after a durable hand-off, so a crash never skips a record: per
 * partition a PartitionWatermark tracks the records in flight, and only the offset
 * below which every record was handed off (see watermark.ts) is committed.
 * `resolveOffset` only moves kafkajs' fetch position. A partition whose window is full
 * is paused with kafkajs' `pause()`, the rest of its batch kept as its backlog, and the
 * batch handler returns at once: it never waits inside `eachBatch`, where it would hold
 * every partition of the same fetch and the group's rebalances. Once a quarter of its
 * window is free the backlog is fed to it, and kafkajs resumes when the backlog is empty.
 */
import type { Client } from '@temporalio/client';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { Config } from '../config';
import type { DlqPublisher } from '../dlq/publisher';
import { throttledWarn, type Logger } from '../observability/logger';
import type { IngestPartition, Metrics } from '../observability/metrics';
import { OffsetCommitter } from './committer';
import { HandOff } from './hand-off';
import { owned, type PreparedRecord } from './prepare';
import type { ParkingStore } from './parking';
import type { RejectionLedger } from './hand-off';
import type { Tracing } from '../observability/tracing-start';
import { SettlementWatch, type LocalSettlements } from './settlement';
import { abandonPartition, newPartitionState, resumePartition, type PartitionState } from './partition';

/** Records parsed and looked up in the store together, at most (one query's keys). */
const MAX_CHUNK = 500;

export interface IngesterOptions {
  kafka: Kafka;
  client: Client;
  config: Config;
  dlq: DlqPublisher;
  logger: Logger;
  metrics: Metrics;
  /** How long shutdown waits for in-flight hand-offs before abandoning them (both are safe). @default 10000 */
  shutdownGraceMs?: number;
  /** How often handed-off offsets are committed. @default 250 */
  commitIntervalMs?: number;
  /** Request eager workflow starts (the client shares a worker's connection in this process). @default false */
  eagerStart?: boolean;
  /** Which of these dedup keys the store records as applied (IDEM_SKIP_APPLIED, where the
   * process has the store). Those events are duplicates and skip Temporal. */
  findApplied?: (dedupKeys: string[]) => Promise<Set<string>>;
  /** Which of these dedup keys the store records as applied or dead-lettered, where the process
   * has the store: per-key ordering then waits on this (one query per tick) instead of one
   * workflow-result long poll per keyed event. */
  findSettled?: (dedupKeys: string[]) => Promise<Map<string, 'applied' | 'dead_lettered'>>;
  /** What this process's own worker settles (`idem consume`): those events go on without a store
   * query, which then asks about an event only now and then (see SettlementWatch). */
  localSettlements?: LocalSettlements;
  /** Key parking's store (used with ordering and IDEM_KEY_PARKING); see parking.ts. */
  parking?: ParkingStore;
  /** Published ingest rejections, where the process has the store (see hand-off.ts). */
  rejections?: RejectionLedger;
  /** How often parked keys are checked for release, and the parked gauges updated. @default 1000 */
  releaseIntervalMs?: number;
  /** OpenTelemetry tracing, when configured: a span per event start. */
  tracing?: Tracing;
}

export class Ingester {
  private consumer: Consumer | undefined;
  private committer: OffsetCommitter | undefined;
  private partitions = new Map<string, PartitionState>();
  /** Stop reading new records (shutdown has begun). */
  private draining = false;
  /** Give up on in-flight work (shutdown grace is over). */
  private aborted = false;
  private readonly handOff: HandOff;
  private readonly settlement: SettlementWatch | undefined;
  private readonly stopListening: (() => void) | undefined;
  private readonly log: Logger;
  /** Key parking's store when parking is on (IDEM_KEY_PARKING with ordering). */
  private readonly parking: ParkingStore | undefined;
  private releaseTimer: NodeJS.Timeout | undefined;
  /** Once a second while the store is down: logged once per 10 s. */
  private readonly releaseFailed: (err: unknown) => void;
  /** This member's partitions in the current generation, as `topic:partition`. */
  private assigned = new Set<string>();

  constructor(private readonly o: IngesterOptions) {
    this.log = o.logger.child({ component: 'ingester' });
    this.parking = o.config.ingest.keyParking ? o.parking : undefined;
    this.releaseFailed = throttledWarn(this.log, 'checking parked keys failed; retrying');
    if (o.findSettled) {
      const watch = new SettlementWatch({
        findSettled: o.findSettled,
        onError: throttledWarn(this.log, 'asking the store which events settled failed; retrying'),
        ...(o.localSettlements ? { localNotices: {} } : {}),
      });
      this.settlement = watch;
      this.stopListening = o.localSettlements?.listen((key, as) => watch.settle(key, as));
    }
    this.handOff = new HandOff({
      ...o,
      log: this.log,
      aborted: () => this.aborted,
      parking: this.parking,
      ...(this.settlement ? { settlement: this.settlement } : {}),
    });
  }

  /** With key parking: every interval, releases the parked keys of this process's partitions
   * whose dead-lettered event was redriven or skipped, and updates the parked gauges. */
  private scheduleRelease(): void {
    const parking = this.parking;
    if (!parking || this.draining) return;
    this.releaseTimer = setTimeout(() => {
      void this.releaseTick(parking).finally(() => this.scheduleRelease());
    }, this.o.releaseIntervalMs ?? 1000);
  }

  private async releaseTick(parking: ParkingStore): Promise<void> {
    try {
      for (const k of await parking.releasableKeys()) {
        // A partition of this member's assignment with no record read yet in this generation
        // (no traffic since a restart) gets its state here: its keys are released all the same.
        const id = `${k.topic}:${k.partition}`;
        const s =
          this.partitions.get(id) ?? (this.assigned.has(id) ? this.state(k.topic, k.partition) : undefined);
        if (s) this.handOff.release(s, k.key);
      }
      const { keys, events } = await parking.countParked();
      this.o.metrics.parkedKeys.set(keys);
      this.o.metrics.parkedEvents.set(events);
    } catch (err) {
      this.releaseFailed(err);
    }
  }

  async start(): Promise<void> {
    const { config } = this.o;
    const consumer = this.o.kafka.consumer({
      groupId: config.kafka.groupId,
      // Many partitions per process run concurrently; a full one is paused, never waited on.
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      maxBytesPerPartition: 1_048_576,
      // Also how long kafkajs sleeps when every partition is paused: a resumed one waits for it.
      maxWaitTimeInMs: config.ingest.fetchMaxWaitMs,
      retry: { retries: 10 },
    });
    this.consumer = consumer;
    // A new generation re-reads every partition from its committed offset: drop all
    // in-flight state; work still running finishes harmlessly (starts are idempotent).
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.log.info(
        { assignment: e.payload.memberAssignment },
        'joined consumer group; partition state reset',
      );
      this.resetPartitions();
      this.assigned = new Set(
        Object.entries(e.payload.memberAssignment).flatMap(([topic, ps]) => ps.map((p) => `${topic}:${p}`)),
      );
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.log.error({ err: e.payload.error, restart: e.payload.restart }, 'kafka consumer crashed');
      this.resetPartitions();
    });
    try {
      await consumer.connect();
      // A new group starts at the earliest offset: nothing produced before it is skipped.
      await consumer.subscribe({ topics: config.kafka.topics, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 16,
        eachBatch: (payload) => this.onBatch(payload),
      });
    } catch (err) {
      // Kafka unreachable at start-up: leave nothing behind, so that start() can be tried again.
      this.consumer = undefined;
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    this.committer = new OffsetCommitter(consumer, () => this.partitions.values(), {
      metrics: this.o.metrics,
      log: this.log,
    });
    this.committer.start(this.o.commitIntervalMs ?? 250);
    this.scheduleRelease();
  }

  /** Graceful stop: no new reads, settle in-flight hand-offs (or abandon them), commit, leave. */
  async stop(): Promise<void> {
    if (!this.consumer || this.draining) return;
    this.draining = true;
    clearTimeout(this.releaseTimer);
    const consumer = this.consumer;
    consumer.pause(this.o.config.kafka.topics.map((topic) => ({ topic })));
    const deadline = Date.now() + (this.o.shutdownGraceMs ?? 10_000);
    while (Date.now() < deadline && [...this.partitions.values()].some((s) => !s.watermark.isIdle())) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.aborted = true;
    this.stopListening?.();
    this.settlement?.stop();
    await this.committer?.stop();
    this.resetPartitions();
    this.assigned = new Set();
    await consumer.disconnect();
    this.log.info('ingester stopped');
  }

  /** This member's partitions in the current consumer-group generation. */
  assignment(): { topic: string; partition: number }[] {
    return [...this.assigned].map((id) => {
      const at = id.lastIndexOf(':');
      return { topic: id.slice(0, at), partition: Number(id.slice(at + 1)) };
    });
  }

  /** Each partition of {@link assignment} with its window: the per-partition gauges, read at each
   * scrape (`idem_oldest_unprocessed_age_seconds`, `idem_ingest_in_flight`, `…_bytes`). */
  partitionWindows(): IngestPartition[] {
    return this.assignment().map(({ topic, partition }) => {
      const w = this.partitions.get(`${topic}:${partition}`)?.watermark;
      return {
        topic,
        partition,
        timestampMs: w?.oldestTimestamp(),
        inFlight: w?.inFlight() ?? 0,
        inFlightBytes: w?.inFlightBytes() ?? 0,
      };
    });
  }

  /** Offsets in flight per partition (for tests and status). */
  inFlight(): Record<string, number> {
    return Object.fromEntries([...this.partitions].map(([k, s]) => [k, s.watermark.inFlight()]));
  }

  private resetPartitions(): void {
    for (const s of this.partitions.values()) abandonPartition(s);
    this.partitions.clear();
    this.updatePaused();
  }

  private state(topic: string, partition: number): PartitionState {
    const id = `${topic}:${partition}`;
    let s = this.partitions.get(id);
    if (!s) {
      s = newPartitionState(topic, partition, this.o.config.ingest);
      this.partitions.set(id, s);
    }
    return s;
  }

  /**
   * Tracks and hands off the batch's records in offset order until the partition's window is
   * full; then keeps the rest as the partition's backlog, moves kafkajs' fetch position past the
   * batch, pauses the partition and returns. It never waits for room, so a partition whose events
   * are stuck holds no other partition of its fetch, and a rebalance proceeds. As the window frees,
   * {@link completed} feeds the backlog, and resumes kafkajs once it is empty: the rest of a fetch
   * is not fetched and decoded again (a backlog's records were decoded 3 to 3.7 times over,
   * docs/performance.md).
   */
  private async onBatch({
    batch,
    resolveOffset,
    heartbeat,
    pause,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    const s = this.state(batch.topic, batch.partition);
    const gone = () => !isRunning() || isStale() || this.draining || s.abandoned;
    const { messages } = batch;
    this.handOff.readParkedKeys(s);
    const next = await this.feed(s, messages, gone, resolveOffset);
    if (next === undefined) return;
    if (next < messages.length) {
      s.backlog = messages.slice(next);
      // The batch's last offset (kafkajs also resolves a trailing transaction marker with it):
      // the backlog holds the rest, so kafkajs resumes after the batch. A new generation reads
      // from the committed offset, which never passes a record not handed off (watermark.ts).
      resolveOffset((messages[messages.length - 1] as KafkaMessage).offset);
      s.resume = pause();
      this.updatePaused();
      this.log.debug({ topic: s.topic, partition: s.partition }, 'window full; partition paused');
    }
    // A rebalance in progress fails the heartbeat: kafkajs then rejoins the group.
    await heartbeat();
  }

  /**
   * Tracks and hands off `messages` in offset order while the window has room. Records are parsed,
   * and asked about in the store, a chunk at a time, as many as the window can still take (a fetch
   * brings up to a megabyte per partition, about 1,600 events of the benchmark's size). Returns
   * how many were taken, or undefined when the partition is gone (shutdown, rebalance): the rest
   * is then left alone. `resolve` is given the last offset taken of each chunk.
   */
  private async feed(
    s: PartitionState,
    messages: KafkaMessage[],
    gone: () => boolean,
    resolve: (offset: string) => void,
  ): Promise<number | undefined> {
    let next = 0;
    while (next < messages.length && !s.watermark.isFull()) {
      if (gone()) return undefined;
      const chunk = messages.slice(next, next + Math.min(MAX_CHUNK, Math.max(1, s.watermark.room())));
      const prepared = chunk.map((m) => this.handOff.prepare(s, m));
      const applied = await this.appliedAmong(s, prepared);
      const from = next;
      for (const [i, message] of chunk.entries()) {
        // Full before the chunk's end (the byte bound): the rest waits for room.
        if (gone() || s.watermark.isFull()) break;
        next++;
        // false: already seen in this generation (kafkajs re-fetched it), in flight or done.
        const p = prepared[i] as PreparedRecord;
        if (s.watermark.track(message.offset, p.bytes, Number(message.timestamp))) {
          this.o.metrics.received.inc({ topic: s.topic });
          const alreadyApplied = p.workflowId !== undefined && applied.has(p.workflowId);
          // A copy known here completes now, in this loop (most records of a duplicate-heavy stream).
          if (this.handOff.completesAtOnce(s, p, alreadyApplied)) {
            if (s.watermark.complete(message.offset)) this.completed(s);
          } else void this.handOff.run(s, owned(p), this.completion(s));
        }
      }
      if (next > from) resolve((messages[next - 1] as KafkaMessage).offset);
    }
    return gone() ? undefined : next;
  }

  /** Feeds a paused partition's backlog to its window, as far as the window takes it (`feed` stops
   * only when the window is full or the backlog used up); resumes kafkajs once it is used up.
   * Started only when `s.feeding` is false: one at a time. */
  private async feedBacklog(s: PartitionState, backlog: KafkaMessage[]): Promise<void> {
    s.feeding = true;
    try {
      const next = await this.feed(
        s,
        backlog,
        () => this.draining || s.abandoned,
        () => undefined,
      );
      if (next === undefined) return;
      if (next < backlog.length) {
        s.backlog = backlog.slice(next);
        return;
      }
      s.backlog = undefined;
      resumePartition(s);
      this.updatePaused();
    } finally {
      s.feeding = false;
    }
  }

  /** One store query for a chunk of the batch; without an answer (PostgreSQL down) every event goes to
   * Temporal, whose duplicate rejection and the store's claim keep it correct. */
  private async appliedAmong(s: PartitionState, prepared: PreparedRecord[]): Promise<Set<string>> {
    if (!this.o.findApplied) return new Set();
    // A copy known here (its event handed off recently, or its first copy open) completes at once, without asking.
    const keys: string[] = [];
    for (const { workflowId, parsed } of prepared) {
      if (workflowId === undefined) continue;
      if (!parsed.ok || !this.handOff.knownCopy(s, workflowId, parsed.event.key)) keys.push(workflowId);
    }
    if (keys.length === 0) return new Set();
    try {
      return await this.o.findApplied(keys);
    } catch (err) {
      this.log.debug({ err }, 'applied-event lookup failed; the batch goes to Temporal');
      return new Set();
    }
  }

  /**
   * The callback of a record's completion, made outside {@link onBatch} and {@link feed}: a closure
   * made there shares its scope with `gone`, so it would keep kafkajs' `isRunning` and `isStale`, and through
   * them the whole fetched batch (about a megabyte), alive until the record settles. Draining
   * 10,000 records, that held 53 batches (48,000 records) for a window of 4,000.
   */
  private completion(s: PartitionState): () => void {
    return () => this.completed(s);
  }

  private completed(s: PartitionState): void {
    if (s.resume && !s.abandoned && !this.draining && s.watermark.hasRoom()) {
      if (s.backlog) {
        // Called for each record a feed completes at once: one feed at a time, without a promise.
        if (!s.feeding)
          this.feedBacklog(s, s.backlog).catch((err: unknown) => {
            // Not expected (parsing and the store lookup do not throw). The partition stays paused
            // with its backlog, tried again in a second (or read again by the next generation).
            this.log.error({ err, topic: s.topic, partition: s.partition }, 'feeding the backlog failed');
            setTimeout(() => this.completed(s), 1000).unref();
          });
      } else {
        resumePartition(s);
        this.updatePaused();
      }
    }
    // Caught up: every record read was handed off, so its offset is committed now, not at the
    // next tick of the commit timer (every 250 ms).
    if (s.watermark.isIdle()) this.committer?.commitSoon();
  }

  private updatePaused(): void {
    let paused = 0;
    for (const s of this.partitions.values()) if (s.resume) paused++;
    this.o.metrics.pausedPartitions.set(paused);
  }
}
