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
import { dlqHeaders, withoutDlqHeaders } from '../dlq/headers';
import type { DlqPublisher } from '../dlq/publisher';
import { dlqTopicFor } from '../dlq/topic';
import { SequencerAbandonedError, StoppedError } from '../errors';
import type { KafkaRecord, ParseResult } from '../events/envelope';
import type { DlqReason, RawMessage } from '../events/types';
import { flattenHeaders } from '../events/kafka-headers';
import { repeatLimiter, type Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { Tracing } from '../observability/tracing-start';
import {
  startEventWorkflow,
  startRejection,
  StartRejectedError,
  type StartResult,
} from '../temporal/start-event';
import type { ProcessEventInput } from '../workflows/types';
import { retryUntilStopped } from '../retry';
import type { PartitionState } from './partition';
import { prepareRecord, type PreparedRecord } from './prepare';
import { RecentKeys } from './recent-keys';
import { Semaphore } from './semaphore';
import type { ParkingStore } from './parking';
import type { Settled, SettlementWatch } from './settlement';

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
  /** Key parking's store, given only with ordering and IDEM_KEY_PARKING (and the store). */
  parking?: ParkingStore;
  /** Where the process has the store: which rejected records' dead-letter copies are published,
   * so a record read again is not published again. */
  rejections?: RejectionLedger;
  /** OpenTelemetry tracing, when configured; without it a start is not touched at all. */
  tracing?: Tracing;
}

/** The store's record of published ingest rejections (src/store/sql/ingest-rejections.ts). */
export interface RejectionLedger {
  published(at: { topic: string; partition: number; offset: string }): Promise<boolean>;
  record(at: { topic: string; partition: number; offset: string; reason: string }): Promise<void>;
}

/** An event this process is handing off: where it was read, and its hand-off. */
interface InProgress {
  /** The partition and generation it was read in. */
  s: PartitionState;
  key: string | undefined;
  handedOff: Promise<Settled | 'parked' | undefined>;
}

/** How many dedup keys a process remembers for skipping copies (about 100 bytes each). */
const RECENT_KEYS = 100_000;

export class HandOff {
  private readonly startSlots: Semaphore;
  /** Events started and not settled yet, per process (IDEM_MAX_UNSETTLED). */
  private readonly unsettledSlots: Semaphore;
  private unsettled = 0;
  private readonly recent: RecentKeys | undefined;
  /** Hand-offs in progress in this process, by dedup key (with IDEM_SKIP_APPLIED). */
  private readonly handingOff = new Map<string, InProgress>();
  /** Failed retries are logged once per step and 10 s (see retrying). */
  private readonly retryLogLimiter = repeatLimiter();

  constructor(private readonly d: HandOffDeps) {
    this.startSlots = new Semaphore(d.config.ingest.startConcurrency);
    this.unsettledSlots = new Semaphore(d.config.ingest.maxUnsettled);
    // IDEM_SKIP_APPLIED: remember handed-off events and skip later copies without a Temporal call.
    this.recent = d.config.ingest.skipApplied ? new RecentKeys(RECENT_KEYS) : undefined;
  }

  /**
   * Parses a record read from partition `s` (no I/O). Its key, value and headers are still
   * kafkajs' slices of the fetch response: a record handed to {@link run} goes through
   * `owned` (prepare.ts) first, and a copy that {@link completesAtOnce} (most records of a
   * duplicate-heavy stream) is copied not at all.
   */
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
    const { retry, workflow } = this.d.config;
    return prepareRecord(record, {
      maxEventBytes: this.d.config.ingest.maxEventBytes,
      retry,
      shape: workflow,
    });
  }

  /**
   * Whether a copy of this event (with this key) read now in `s` is known here without the store:
   * this process handed its event off recently, or its first copy was read in the same partition,
   * generation and key and is still being handed off. Such a copy completes at once and needs no
   * store lookup (the ingester asks before the batch's query): Temporal would reject its start,
   * and an open first copy's event cannot be applied yet.
   */
  knownCopy(s: PartitionState, id: string, key: string | undefined): boolean {
    if (this.recent?.has(id)) return true;
    const open = this.handingOff.get(id);
    return open?.s === s && open.key === key;
  }

  /**
   * Whether this record is a duplicate that completes at once, without any I/O (counted as one
   * when it is): its event is applied by the store's answer (`alreadyApplied`: its effect is
   * committed, so no later event of its key can be waiting on it), or it is a {@link knownCopy}
   * (a copy of an event this process handed off recently, or whose first copy is open here;
   * counted by the ingest layer, as it is never looked up in the store). The ingester asks before
   * {@link run}, so most copies of a duplicate-heavy stream cost no promise at all.
   */
  completesAtOnce(
    s: PartitionState,
    { parsed, workflowId }: PreparedRecord,
    alreadyApplied: boolean,
  ): boolean {
    if (!parsed.ok) return false;
    const id = workflowId as string;
    if (alreadyApplied) {
      this.d.metrics.duplicates.inc({ layer: 'store' });
      this.recent?.add(id);
      return true;
    }
    // A first copy open here: its offset is older and still open, so the commit cannot pass this
    // one before the first copy is handed off (or settled, with ordering), and a crash or a
    // rebalance reads both again. So this one completes now: it holds no room in the window,
    // and its key's later events wait for the first copy, as they would have.
    if (this.knownCopy(s, id, parsed.event.key)) {
      this.d.metrics.duplicates.inc({ layer: 'ingest' });
      return true;
    }
    return false;
  }

  /**
   * Hands one record off; completes its offset in the watermark it was tracked in. For a record
   * that {@link completesAtOnce} did not complete, asked in the same turn of the event loop, and
   * `owned` (its bytes copied out of the fetch response).
   */
  async run(
    s: PartitionState,
    { record, parsed, workflowId, input }: PreparedRecord,
    onComplete: () => void,
  ): Promise<void> {
    const stopped = () => this.d.aborted() || s.abandoned;
    try {
      if (!parsed.ok) await this.reject(record, parsed, stopped);
      else
        await this.handOffEvent(s, record, parsed, input as ProcessEventInput, workflowId as string, stopped);
      if (s.watermark.complete(record.offset)) onComplete();
    } catch (err) {
      if (err instanceof StoppedError || err instanceof SequencerAbandonedError) return;
      this.d.log.error(
        { err, topic: s.topic, partition: s.partition, offset: record.offset },
        'unexpected error handing off a record',
      );
    }
  }

  /** An event that is not a known duplicate: its workflow started in key order (a copy of an event
   * being handed off in another generation or partition waits for that hand-off instead). */
  private async handOffEvent(
    s: PartitionState,
    record: KafkaRecord,
    { event, raw }: Extract<ParseResult, { ok: true }>,
    input: ProcessEventInput,
    id: string,
    stopped: () => boolean,
  ): Promise<void> {
    // With ordering, a keyed event is handed off once it is settled: its offset is not
    // committed before, so a restart or a rebalance redelivers it, and its key's later events
    // wait for it again instead of overtaking it.
    const key = event.key;
    const ordered = this.d.config.ingest.ordering && key !== undefined;
    const inProgress = this.handingOff.get(id)?.handedOff;
    if (inProgress && !ordered) {
      // A copy of an event this process is handing off right now: it is handed off when the
      // first copy is, without a start of its own that Temporal would reject.
      await inProgress;
      this.d.metrics.duplicates.inc({ layer: 'ingest' });
      return;
    }
    // With key parking (ordered keyed events only): the key the event may park or be parked behind.
    const park = ordered && this.d.parking ? { parking: this.d.parking, key } : undefined;
    const handedOff = s.sequencer
      .enqueue(key, async () => {
        // The key's next event waits for `settled`, and so does this one's offset.
        const turn = (settled: Promise<Settled | 'parked'>) => ({ handedOff: { settled }, closed: settled });
        // A keyed copy waits for the first copy in its key's turn, never beside the sequencer:
        // after a rebalance the first copy belongs to the old generation, and the key's later
        // events of this generation must still wait for it.
        const first = await inProgress?.then(
          (as) => ({ as: as ?? ('applied' as const) }),
          () => undefined,
        );
        if (first) {
          this.d.metrics.duplicates.inc({ layer: 'ingest' });
          return turn(
            park && first.as === 'dead_lettered'
              ? this.parkIfDeadLettered(park.parking, s, park.key, id, first.as, stopped)
              : Promise.resolve(first.as),
          );
        }
        if (
          park &&
          (await this.parkIfKeyParked(park.parking, s, park.key, { eventId: id, raw, input }, stopped))
        )
          return turn(Promise.resolve('parked'));
        let started: { settled: Promise<Settled> };
        try {
          started = await this.startUnsettled(id, input, stopped);
        } catch (err) {
          if (!(err instanceof StartRejectedError)) throw err;
          // Temporal refuses this event for good: dead-lettered like a record rejected at ingest
          // (no store row, so its key is not parked), and its key's next event goes on.
          await this.reject(record, { reason: err.reason, error: err.message }, stopped);
          return turn(Promise.resolve('dead_lettered' as const));
        }
        const { settled } = started;
        return turn(
          park
            ? settled.then((as) => this.parkIfDeadLettered(park.parking, s, park.key, id, as, stopped))
            : settled,
        );
      })
      .then(({ settled }) => (ordered ? settled : undefined));
    if (!this.recent) {
      await handedOff;
      return;
    }
    const entry: InProgress = { s, key, handedOff };
    this.handingOff.set(id, entry);
    try {
      await handedOff;
      this.recent.add(id);
    } finally {
      if (this.handingOff.get(id) === entry) this.handingOff.delete(id);
    }
  }

  /**
   * Starts the event's workflow within the process's bound on unsettled events; `settled`
   * resolves once the event is settled (rejects only when the wait is abandoned without a
   * store), which frees the slot.
   */
  private async startUnsettled(
    id: string,
    input: ProcessEventInput,
    stopped: () => boolean,
  ): Promise<{ settled: Promise<Settled> }> {
    await this.unsettledSlots.acquire();
    this.setUnsettled(+1);
    const release = () => {
      this.unsettledSlots.release();
      this.setUnsettled(-1);
    };
    let result: StartResult;
    try {
      result = await this.start(id, input, stopped);
    } catch (err) {
      release();
      throw err;
    }
    // waitClosed rejects only when the wait is abandoned (StoppedError): no close, so no
    // settlement (a key's next event must not start on it).
    const closed = () => this.waitClosed(result, stopped);
    const settled: Promise<Settled> = this.d.settlement
      ? this.d.settlement.settled(id, closed)
      : closed().then(() => 'closed' as const);
    settled.then(release, release);
    return { settled };
  }

  /** Retries `fn` until it succeeds or the hand-off is abandoned, logging each failure. */
  private retrying<T>(
    what: string,
    fields: object,
    fn: () => Promise<T>,
    stopped: () => boolean,
  ): Promise<T> {
    return retryUntilStopped(fn, {
      stopped,
      // While PostgreSQL or Kafka is down every waiting event retries: one line per step and
      // interval, saying how many more failed meanwhile, instead of one per event and attempt.
      onError: (err) => {
        const suppressed = this.retryLogLimiter(what);
        if (suppressed !== undefined)
          this.d.log.warn(
            { err, ...fields, ...(suppressed > 0 ? { suppressed } : {}) },
            `${what} failed; retrying`,
          );
      },
    });
  }

  /**
   * With key parking: starts reading the partition's parked keys unless they are read already in
   * this generation. The ingester asks when a batch comes, so the read runs beside the batch's
   * store lookup rather than after it, where the partition's first keyed event would wait for it.
   */
  readParkedKeys(s: PartitionState): void {
    const parking = this.d.parking;
    if (parking && !s.parked)
      this.parkedKeys(parking, s, () => this.d.aborted() || s.abandoned).catch(() => undefined);
  }

  /** The partition's parked keys: read from the store once per generation, then kept here. */
  private async parkedKeys(parking: ParkingStore, s: PartitionState, stopped: () => boolean) {
    s.parked ??= this.retrying(
      'reading parked keys',
      { topic: s.topic, partition: s.partition },
      () => parking.parkedKeysOf(s.topic, s.partition),
      stopped,
    );
    try {
      return await s.parked;
    } catch (err) {
      s.parked = undefined; // stopped: read again when asked next
      throw err;
    }
  }

  /**
   * When the event's key is parked, parks the event too (durably, so a restart keeps it
   * parked) and returns true; false when the key is not parked (any more).
   */
  private async parkIfKeyParked(
    parking: ParkingStore,
    s: PartitionState,
    key: string,
    e: { eventId: string; raw: RawMessage; input: ProcessEventInput },
    stopped: () => boolean,
  ): Promise<boolean> {
    const parkedKeys = await this.parkedKeys(parking, s, stopped);
    if (!parkedKeys.has(key)) return false;
    const row = {
      eventId: e.eventId,
      topic: s.topic,
      key,
      partition: s.partition,
      offset: e.raw.offset,
      input: e.input,
    };
    const parked = await this.retrying(
      'parking an event',
      { dedupKey: e.eventId },
      () => parking.parkEvent(row),
      stopped,
    );
    if (!parked) {
      // Released meanwhile (by this process's release, which ran before in the key's order).
      parkedKeys.delete(key);
      return false;
    }
    this.d.metrics.parked.inc({ topic: s.topic });
    this.d.log.info(
      { dedupKey: e.eventId, key, topic: s.topic, partition: s.partition },
      'event parked behind its key',
    );
    return true;
  }

  /** A dead-lettered keyed event parks its key (unless an operator skipped it already). */
  private async parkIfDeadLettered(
    parking: ParkingStore,
    s: PartitionState,
    key: string,
    id: string,
    as: Settled,
    stopped: () => boolean,
  ): Promise<Settled> {
    if (as !== 'dead_lettered') return as;
    const parked = await this.retrying(
      'parking a key',
      { key },
      () => parking.parkKey({ topic: s.topic, key, partition: s.partition, blockedBy: id }),
      stopped,
    );
    if (parked) {
      (await this.parkedKeys(parking, s, stopped)).add(key);
      this.d.log.warn(
        { dedupKey: id, key, topic: s.topic, partition: s.partition },
        'event dead-lettered: its key is parked until it is redriven or skipped (idem dlq redrive / idem dlq skip)',
      );
    }
    return as;
  }

  /**
   * Releases a parked key whose dead-lettered event was redriven (applied) or skipped: its
   * parked events start one at a time in offset order, each once the previous settled, as a
   * task of the key's sequencer, so events of the key read meanwhile wait behind the release.
   * Stops, the key parked again, when a released event is dead-lettered in its turn.
   */
  release(s: PartitionState, key: string): void {
    const parking = this.d.parking;
    if (!parking || s.releasing.has(key) || s.abandoned) return;
    s.releasing.add(key);
    const stopped = () => this.d.aborted() || s.abandoned;
    const done = s.sequencer.enqueue(key, async () => {
      const released = this.releaseKey(parking, s, key, stopped).finally(() => s.releasing.delete(key));
      return { handedOff: released, closed: released };
    });
    // Settles once the release is over (the sequencer adopts the task's promise).
    done.catch((err: unknown) => this.logReleaseError(err, s, key));
  }

  private logReleaseError(err: unknown, s: PartitionState, key: string): void {
    s.releasing.delete(key);
    if (err instanceof StoppedError || err instanceof SequencerAbandonedError) return;
    this.d.log.error({ err, key, topic: s.topic }, 'releasing a parked key failed; the next check retries');
  }

  private async releaseKey(
    parking: ParkingStore,
    s: PartitionState,
    key: string,
    stopped: () => boolean,
  ): Promise<void> {
    const ref = { topic: s.topic, key };
    const retrying = <T>(what: string, fn: () => Promise<T>) => this.retrying(what, { key }, fn, stopped);
    this.d.log.info({ key, topic: s.topic, partition: s.partition }, 'releasing a parked key');
    for (;;) {
      if (stopped()) throw new StoppedError('stopped while releasing a key');
      const next = await retrying('reading the next parked event', () => parking.nextParkedEvent(ref));
      if (!next) {
        if (await retrying('unparking a key', () => parking.unparkKey(ref))) {
          (await this.parkedKeys(parking, s, stopped)).delete(key);
          this.d.log.info({ key, topic: s.topic }, 'parked key released');
          return;
        }
        continue; // an event was parked meanwhile (by another process): release it too
      }
      const { settled } = await this.startUnsettled(next.eventId, next.input as ProcessEventInput, stopped);
      const as = await settled;
      if (as === 'dead_lettered') {
        await retrying('parking a key again', () => parking.reparkKey({ ...ref, blockedBy: next.eventId }));
        this.d.log.warn(
          { key, dedupKey: next.eventId },
          'a released event was dead-lettered: its key is parked behind it',
        );
        return;
      }
      await retrying('removing a released event', () => parking.deleteParkedEvent(next.eventId));
      this.d.metrics.released.inc({ topic: s.topic });
    }
  }

  private setUnsettled(delta: number): void {
    this.unsettled += delta;
    this.d.metrics.unsettled.set(this.unsettled);
  }

  /** A record that is no acceptable event: its dead-letter copy keeps its key, value and headers. */
  private async reject(
    record: KafkaRecord,
    parsed: { reason: DlqReason; error: string },
    stopped: () => boolean,
  ): Promise<void> {
    const at = { topic: record.topic, partition: record.partition, offset: record.offset };
    const ledger = this.d.rejections;
    const onError = (what: string) => (err: unknown) => this.d.log.warn({ err }, `${what}; retrying`);
    if (
      ledger &&
      (await retryUntilStopped(() => ledger.published(at), {
        stopped,
        onError: onError('asking the store about a rejected record failed'),
      }))
    ) {
      // Read again (a rebalance, a restart before its offset was committed): already published.
      this.d.metrics.duplicates.inc({ layer: 'ingest' });
      return;
    }
    await retryUntilStopped(
      () =>
        this.d.dlq.publish({
          topic: dlqTopicFor(record.topic),
          key: record.key,
          value: record.value,
          headers: {
            // a producer's own idem-* headers would pass for idem's (`idem dlq list --type`)
            ...withoutDlqHeaders(flattenHeaders(record.headers)),
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
      { stopped, onError: onError('dead-letter publish failed') },
    );
    if (ledger)
      await retryUntilStopped(() => ledger.record({ ...at, reason: parsed.reason }), {
        stopped,
        onError: onError('recording a published rejection failed'),
      });
    this.d.metrics.deadLettered.inc({ reason: parsed.reason, stage: 'ingest' });
    this.d.log.info(
      { topic: record.topic, partition: record.partition, offset: record.offset, reason: parsed.reason },
      'rejected to dead-letter topic',
    );
  }

  /** Starts the event's workflow; with tracing, inside the event's `ingest <topic>` span. */
  private start(workflowId: string, input: ProcessEventInput, stopped: () => boolean): Promise<StartResult> {
    const tracing = this.d.tracing;
    if (!tracing) return this.startWorkflow(workflowId, input, stopped);
    const { event, message } = input;
    return tracing.inRecordSpan(
      `ingest ${message.topic}`,
      message,
      {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.destination.name': message.topic,
        'messaging.destination.partition.id': String(message.partition),
        'messaging.kafka.offset': Number(message.offset),
        'cloudevents.event_id': event.id,
        'cloudevents.event_source': event.source,
        'cloudevents.event_type': event.type,
        'idem.workflow_id': workflowId,
      },
      async (span) => {
        const result = await this.startWorkflow(workflowId, input, stopped);
        span.setAttribute('idem.start.outcome', result.outcome);
        return result;
      },
    );
  }

  private async startWorkflow(
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
          client
            .withDeadline(Date.now() + config.ingest.startTimeoutMs, () =>
              startEventWorkflow(client, {
                workflowId,
                taskQueue: config.temporal.taskQueue,
                input,
                eager: this.d.eagerStart ?? false,
              }),
            )
            .catch((err: unknown) => {
              throw startRejection(err) ?? err;
            }),
        {
          stopped,
          // refused for this event (INVALID_ARGUMENT): no retry can help
          permanent: (err) => err instanceof StartRejectedError,
          onError: (err, attempt) => {
            metrics.startErrors.inc({ topic: input.message.topic });
            this.d.log.warn({ err, workflowId, attempt }, 'workflow start failed; retrying');
          },
        },
      );
      const seconds = Number(process.hrtime.bigint() - began) / 1e9;
      metrics.startLatency.observe(seconds);
      metrics.stageSeconds.observe({ stage: 'start_call' }, seconds);
      if (result.outcome === 'started') {
        metrics.started.inc({ topic: input.message.topic });
        if (result.eager) metrics.startedEagerly.inc({ topic: input.message.topic });
      } else metrics.duplicates.inc({ layer: 'temporal' });
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
