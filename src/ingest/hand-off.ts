/**
 * The durable hand-off of one Kafka record: a record that is not an acceptable
 * event goes to the dead-letter topic; an event starts its processEvent workflow
 * under its dedup key (a duplicate start is confirmed by Temporal), in key order
 * when ordering is on. Either way the record's offset then completes in the
 * watermark of the generation it was read in.
 */
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { KafkaMessage } from 'kafkajs';
import type { Config } from '../config';
import { dlqHeaders } from '../dlq/headers';
import type { DlqPublisher } from '../dlq/publisher';
import { dlqTopicFor } from '../dlq/topic';
import { SequencerAbandonedError, StoppedError } from '../errors';
import { parseRecord, type KafkaRecord, type ParseResult } from '../events/envelope';
import { workflowIdFor } from '../events/identity';
import type { DlqReason } from '../events/types';
import { flattenHeaders } from '../events/kafka-headers';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { processEventInput, startEventWorkflow, type StartResult } from '../temporal/start-event';
import type { ProcessEventInput } from '../workflows/types';
import { retryUntilStopped } from './backoff';
import type { PartitionState } from './partition';
import { RecentKeys } from './recent-keys';
import { Semaphore } from './semaphore';
import type { SettlementWatch } from './settlement';

export interface HandOffDeps {
  client: Client;
  config: Config;
  dlq: DlqPublisher;
  log: Logger;
  metrics: Metrics;
  /** True once shutdown's grace period is over: in-flight hand-offs are abandoned (both are safe). */
  aborted: () => boolean;
  /** Request eager starts. @default false */
  eagerStart?: boolean;
  /** Where the process has the store: a keyed event's successor waits for it to settle
   * (applied or dead-lettered) rather than for its workflow to close. */
  settlement?: SettlementWatch;
}

/** How many dedup keys a process remembers for skipping copies (about 100 bytes each). */
const RECENT_KEYS = 100_000;

/** A record parsed, with its event's dedup key when it is an event. */
export interface PreparedRecord {
  record: KafkaRecord;
  parsed: ParseResult;
  workflowId: string | undefined;
}

export class HandOff {
  private readonly startSlots: Semaphore;
  private readonly recent: RecentKeys | undefined;
  /** Hand-offs in progress in this process, by dedup key (with IDEM_SKIP_APPLIED). */
  private readonly handingOff = new Map<string, Promise<unknown>>();

  constructor(private readonly d: HandOffDeps) {
    this.startSlots = new Semaphore(d.config.ingest.startConcurrency);
    // IDEM_SKIP_APPLIED: remember handed-off events and skip later copies without a Temporal call.
    this.recent = d.config.ingest.skipApplied ? new RecentKeys(RECENT_KEYS) : undefined;
  }

  /** Parses a record read from partition `s` (no I/O), ready for {@link run}. */
  prepare(s: PartitionState, message: KafkaMessage): PreparedRecord {
    const record: KafkaRecord = {
      topic: s.topic,
      partition: s.partition,
      offset: message.offset,
      timestamp: message.timestamp,
      key: message.key ?? null,
      value: message.value ?? null,
      headers: message.headers,
    };
    const emitted = Number(message.timestamp);
    if (emitted > 0)
      this.d.metrics.stageSeconds.observe({ stage: 'kafka_wait' }, Math.max(0, Date.now() - emitted) / 1000);
    const parsed = parseRecord(record, { maxEventBytes: this.d.config.ingest.maxEventBytes });
    // THE DEDUP KEY: derived from (source, id) only; see src/events/identity.ts.
    const workflowId = parsed.ok ? workflowIdFor(parsed.event.source, parsed.event.id) : undefined;
    return { record, parsed, workflowId };
  }

  /**
   * Hands one record off; completes its offset in the watermark it was tracked in.
   * `alreadyApplied`: the store says its event is applied, so it is a duplicate and
   * needs no Temporal call (its effect is committed, so no later event of its key can
   * be waiting on it).
   */
  async run(
    s: PartitionState,
    { record, parsed, workflowId }: PreparedRecord,
    alreadyApplied: boolean,
    onComplete: () => void,
  ): Promise<void> {
    const stopped = () => this.d.aborted() || s.abandoned;
    try {
      if (!parsed.ok) await this.reject(record, parsed, stopped);
      else await this.handOffEvent(s, parsed, workflowId as string, alreadyApplied, stopped);
      if (s.watermark.complete(record.offset)) onComplete();
    } catch (err) {
      if (err instanceof StoppedError || err instanceof SequencerAbandonedError) return;
      this.d.log.error(
        { err, topic: s.topic, partition: s.partition, offset: record.offset },
        'unexpected error handing off a record',
      );
    }
  }

  /** An event: skipped when it is a known duplicate, else its workflow started in key order. */
  private async handOffEvent(
    s: PartitionState,
    { event, raw }: Extract<ParseResult, { ok: true }>,
    id: string,
    alreadyApplied: boolean,
    stopped: () => boolean,
  ): Promise<void> {
    if (alreadyApplied) {
      this.d.metrics.duplicates.inc({ layer: 'store' });
      this.recent?.add(id);
      return;
    }
    if (this.recent?.has(id)) {
      this.d.metrics.duplicates.inc({ layer: 'ingest' });
      return;
    }
    const inProgress = this.handingOff.get(id);
    if (inProgress) {
      // A copy of an event this process is handing off right now: it is handed off when the
      // first copy is, without a start of its own that Temporal would reject.
      await inProgress;
      this.d.metrics.duplicates.inc({ layer: 'ingest' });
      return;
    }
    const { retry, workflow } = this.d.config;
    const input = processEventInput(event, raw, { retry, shape: workflow });
    const handedOff = s.sequencer.enqueue(event.key, async () => {
      const result = await this.start(id, input, stopped);
      const ordered = this.d.config.ingest.ordering && event.key !== undefined;
      if (!ordered) return { handedOff: result };
      const closed = () => this.waitClosed(result, stopped);
      return {
        handedOff: result,
        closed: this.d.settlement ? this.d.settlement.settled(id, closed) : closed(),
      };
    });
    if (!this.recent) {
      await handedOff;
      return;
    }
    this.handingOff.set(id, handedOff);
    try {
      await handedOff;
      this.recent.add(id);
    } finally {
      if (this.handingOff.get(id) === handedOff) this.handingOff.delete(id);
    }
  }

  /** A record that is no acceptable event: its dead-letter copy keeps its key, value and headers. */
  private async reject(
    record: KafkaRecord,
    parsed: { reason: DlqReason; error: string },
    stopped: () => boolean,
  ): Promise<void> {
    await retryUntilStopped(
      () =>
        this.d.dlq.publish({
          topic: dlqTopicFor(record.topic),
          key: record.key,
          value: record.value,
          headers: {
            ...flattenHeaders(record.headers),
            ...dlqHeaders({
              reason: parsed.reason,
              error: parsed.error,
              attempts: 0,
              originalTopic: record.topic,
              originalPartition: record.partition,
              originalOffset: record.offset,
            }),
          },
        }),
      { stopped, onError: (err) => this.d.log.warn({ err }, 'dead-letter publish failed; retrying') },
    );
    this.d.metrics.deadLettered.inc({ reason: parsed.reason, stage: 'ingest' });
    this.d.log.info(
      { topic: record.topic, partition: record.partition, offset: record.offset, reason: parsed.reason },
      'rejected to dead-letter topic',
    );
  }

  private async start(
    workflowId: string,
    input: ProcessEventInput,
    stopped: () => boolean,
  ): Promise<StartResult> {
    const { metrics, client, config } = this.d;
    await this.startSlots.acquire();
    const began = process.hrtime.bigint();
    try {
      const result = await retryUntilStopped(
        () =>
          startEventWorkflow(client, {
            workflowId,
            taskQueue: config.temporal.taskQueue,
            input,
            eager: this.d.eagerStart ?? false,
          }),
        {
          stopped,
          onError: (err, attempt) => {
            metrics.startErrors.inc({ topic: input.message.topic });
            this.d.log.warn({ err, workflowId, attempt }, 'workflow start failed; retrying');
          },
        },
      );
      const seconds = Number(process.hrtime.bigint() - began) / 1e9;
      metrics.startLatency.observe(seconds);
      metrics.stageSeconds.observe({ stage: 'start_call' }, seconds);
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
          this.d.log.warn(
            { err, workflowId: result.workflowId },
            'waiting for workflow close failed; retrying',
          ),
      },
    );
  }
}
