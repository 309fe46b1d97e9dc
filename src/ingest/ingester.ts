/**
 * The Kafka side of idem: reads records with a kafkajs consumer group, rejects bad
 * ones to the dead-letter topic, and hands every good one to Temporal as a
 * processEvent workflow whose ID is the event's dedup key.
 *
 * Offsets move only after a durable hand-off, so a crash never skips a record: per partition a
 * PartitionWatermark tracks the records in flight, and only the offset below which
 * every record was started, confirmed duplicate, or dead-lettered is committed.
 * kafkajs' auto-commit is off; `resolveOffset` only moves the fetch position.
 * A full window stops reading the partition (backpressure) until records settle.
 */
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { dlqTopicFor, type Config } from '../config';
import { parseRecord, type KafkaRecord } from '../events/envelope';
import { workflowIdFor } from '../events/identity';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { ProcessEventInput } from '../workflows/types';
import { retryUntilStopped, StoppedError } from './backoff';
import { dlqHeaders, type DlqPublisher } from './dlq';
import { KeySequencer, SequencerAbandonedError } from './sequencer';
import { processEventInput, startEventWorkflow, type StartResult } from './starter';
import { Semaphore } from './semaphore';
import { PartitionWatermark } from './watermark';

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
}

/** One assigned partition in one consumer-group generation. */
interface PartitionState {
  topic: string;
  partition: number;
  watermark: PartitionWatermark;
  sequencer: KeySequencer;
  abandoned: boolean;
  /** Wakes a batch loop waiting for room in the window. */
  roomWaiters: (() => void)[];
}

export class Ingester {
  private consumer: Consumer | undefined;
  private partitions = new Map<string, PartitionState>();
  /** Stop reading new records (shutdown has begun). */
  private draining = false;
  /** Give up on in-flight work (shutdown grace is over). */
  private aborted = false;
  private commitTimer: NodeJS.Timeout | undefined;
  private committing: Promise<void> | undefined;
  private readonly startSlots: Semaphore;
  private readonly log: Logger;

  constructor(private readonly o: IngesterOptions) {
    this.startSlots = new Semaphore(o.config.ingest.startConcurrency);
    this.log = o.logger.child({ component: 'ingester' });
  }

  async start(): Promise<void> {
    const { config } = this.o;
    const consumer = this.o.kafka.consumer({
      groupId: config.kafka.groupId,
      // Many partitions per process run concurrently; each batch loop may wait for room.
      sessionTimeout: 30_000,
      heartbeatInterval: 3_000,
      maxBytesPerPartition: 1_048_576,
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
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.log.error({ err: e.payload.error, restart: e.payload.restart }, 'kafka consumer crashed');
      this.resetPartitions();
    });
    await consumer.connect();
    // A new group starts at the earliest offset: nothing produced before it is skipped.
    await consumer.subscribe({ topics: config.kafka.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 16,
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.commitTimer = setInterval(() => void this.commit(), this.o.commitIntervalMs ?? 250);
  }

  /** Graceful stop: no new reads, settle in-flight hand-offs (or abandon them), commit, leave. */
  async stop(): Promise<void> {
    if (!this.consumer || this.draining) return;
    this.draining = true;
    const consumer = this.consumer;
    consumer.pause(this.o.config.kafka.topics.map((topic) => ({ topic })));
    const deadline = Date.now() + (this.o.shutdownGraceMs ?? 10_000);
    while (Date.now() < deadline && [...this.partitions.values()].some((s) => !s.watermark.isIdle())) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.aborted = true;
    clearInterval(this.commitTimer);
    await this.commit();
    this.resetPartitions();
    await consumer.disconnect();
    this.log.info('ingester stopped');
  }

  /** Offsets in flight per partition (for tests and status). */
  inFlight(): Record<string, number> {
    return Object.fromEntries([...this.partitions].map(([k, s]) => [k, s.watermark.inFlight()]));
  }

  private resetPartitions(): void {
    for (const s of this.partitions.values()) {
      s.abandoned = true;
      s.sequencer.clear();
      s.roomWaiters.splice(0).forEach((wake) => wake());
      this.o.metrics.inFlight.remove({ topic: s.topic, partition: String(s.partition) });
    }
    this.partitions.clear();
  }

  private state(topic: string, partition: number): PartitionState {
    const id = `${topic}:${partition}`;
    let s = this.partitions.get(id);
    if (!s) {
      s = {
        topic,
        partition,
        watermark: new PartitionWatermark({ maxInFlight: this.o.config.ingest.maxInFlight }),
        sequencer: new KeySequencer({ ordered: this.o.config.ingest.ordering }),
        abandoned: false,
        roomWaiters: [],
      };
      this.partitions.set(id, s);
    }
    return s;
  }

  private async onBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    const s = this.state(batch.topic, batch.partition);
    const gone = () => !isRunning() || isStale() || this.draining || s.abandoned;
    for (const message of batch.messages) {
      while (s.watermark.isFull() && !gone()) {
        await new Promise<void>((wake) => {
          s.roomWaiters.push(wake);
          setTimeout(wake, 1000);
        });
        await heartbeat().catch(() => undefined);
      }
      if (gone()) return;
      try {
        s.watermark.track(message.offset);
      } catch {
        // Already tracked in this generation (kafkajs re-fetched it): it is in flight or done.
        resolveOffset(message.offset);
        continue;
      }
      this.o.metrics.received.inc({ topic: batch.topic });
      this.updateInFlight(s);
      void this.handle(s, message);
      resolveOffset(message.offset);
    }
    await heartbeat().catch(() => undefined);
  }

  private updateInFlight(s: PartitionState): void {
    this.o.metrics.inFlight.set({ topic: s.topic, partition: String(s.partition) }, s.watermark.inFlight());
  }

  /** Hands one record off; completes its offset in the watermark it was tracked in. */
  private async handle(s: PartitionState, message: KafkaMessage): Promise<void> {
    const stopped = () => this.aborted || s.abandoned;
    const record: KafkaRecord = {
      topic: s.topic,
      partition: s.partition,
      offset: message.offset,
      timestamp: message.timestamp,
      key: message.key ?? null,
      value: message.value ?? null,
      headers: message.headers,
    };
    try {
      const parsed = parseRecord(record, { maxEventBytes: this.o.config.ingest.maxEventBytes });
      if (!parsed.ok) {
        await retryUntilStopped(
          () =>
            this.o.dlq.publish({
              topic: dlqTopicFor(s.topic),
              key: record.key,
              value: record.value,
              headers: {
                ...originalHeaders(message),
                ...dlqHeaders({
                  reason: parsed.reason,
                  error: parsed.error,
                  attempts: 0,
                  originalTopic: s.topic,
                  originalPartition: s.partition,
                  originalOffset: message.offset,
                }),
              },
            }),
          { stopped, onError: (err) => this.log.warn({ err }, 'dead-letter publish failed; retrying') },
        );
        this.o.metrics.deadLettered.inc({ reason: parsed.reason, stage: 'ingest' });
        this.log.info(
          { topic: s.topic, partition: s.partition, offset: message.offset, reason: parsed.reason },
          'rejected to dead-letter topic',
        );
      } else {
        const { event, raw } = parsed;
        const input = processEventInput(event, raw, this.o.config.retry);
        // THE DEDUP KEY: derived from (source, id) only; see src/events/identity.ts.
        const workflowId = workflowIdFor(event.source, event.id);
        await s.sequencer.enqueue(event.key, async () => {
          const result = await this.startWithRetry(workflowId, input, stopped);
          const ordered = this.o.config.ingest.ordering && event.key !== undefined;
          return { handedOff: result, closed: ordered ? this.waitClosed(result, stopped) : undefined };
        });
      }
      if (s.watermark.complete(message.offset)) {
        this.updateInFlight(s);
        if (!s.watermark.isFull()) s.roomWaiters.splice(0).forEach((wake) => wake());
      }
    } catch (err) {
      if (err instanceof StoppedError || err instanceof SequencerAbandonedError) return;
      this.log.error(
        { err, topic: s.topic, partition: s.partition, offset: message.offset },
        'unexpected error handing off a record',
      );
    }
  }

  private async startWithRetry(
    workflowId: string,
    input: ProcessEventInput,
    stopped: () => boolean,
  ): Promise<StartResult> {
    const { metrics, client, config } = this.o;
    await this.startSlots.acquire();
    const began = process.hrtime.bigint();
    try {
      const result = await retryUntilStopped(
        () => startEventWorkflow(client, { workflowId, taskQueue: config.temporal.taskQueue, input }),
        {
          stopped,
          onError: (err, attempt) => {
            metrics.startErrors.inc({ topic: input.message.topic });
            this.log.warn({ err, workflowId, attempt }, 'workflow start failed; retrying');
          },
        },
      );
      metrics.startLatency.observe(Number(process.hrtime.bigint() - began) / 1e9);
      if (result.outcome === 'started') metrics.started.inc({ topic: input.message.topic });
      else metrics.duplicates.inc({ layer: 'temporal' });
      return result;
    } finally {
      this.startSlots.release();
    }
  }

  /**
   * Settles when the workflow has closed, however it ended. Losing the connection
   * while waiting is not a close: it retries, or the key's next event would start early.
   */
  private waitClosed(result: StartResult, stopped: () => boolean): Promise<unknown> {
    return retryUntilStopped(
      async () => {
        try {
          await result.closed();
        } catch (err) {
          if (err instanceof WorkflowFailedError || err instanceof WorkflowNotFoundError) return;
          throw err;
        }
      },
      {
        stopped,
        onError: (err) =>
          this.log.warn(
            { err, workflowId: result.workflowId },
            'waiting for workflow close failed; retrying',
          ),
      },
    );
  }

  /** Commits, per partition, the offset below which every record was handed off. */
  commit(): Promise<void> {
    if (this.committing) return this.committing;
    this.committing = (async () => {
      const consumer = this.consumer;
      if (!consumer) return;
      const pending = [...this.partitions.values()]
        .filter((s) => !s.abandoned)
        .map((s) => ({ s, offset: s.watermark.committable() }))
        .filter((p): p is { s: PartitionState; offset: string } => p.offset !== undefined);
      if (pending.length === 0) return;
      try {
        await consumer.commitOffsets(
          pending.map(({ s, offset }) => ({ topic: s.topic, partition: s.partition, offset })),
        );
        for (const { s, offset } of pending) {
          s.watermark.markCommitted(offset);
          this.o.metrics.offsetCommits.inc({ topic: s.topic });
        }
      } catch (err) {
        // A rebalance in progress, or Kafka unreachable: the next tick tries again.
        this.log.warn({ err }, 'offset commit failed; will retry');
      }
    })().finally(() => {
      this.committing = undefined;
    });
    return this.committing;
  }
}

/** The record's own headers, kept on its dead-letter copy. */
function originalHeaders(message: KafkaMessage): Record<string, string | Buffer> {
  const out: Record<string, string | Buffer> = {};
  for (const [k, v] of Object.entries(message.headers ?? {})) {
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = first;
  }
  return out;
}
