/**
 * deadLetter: the last step of a failed event. Records the failure on the dedup
 * row, then publishes the original record unchanged (key, value, headers) to
 * `<topic>.dlq` with `idem-*` headers saying why.
 *
 * Retries: the activity may run more than once for one failure (a lost
 * completion, Kafka briefly down). The dedup row keeps the run that
 * dead-lettered the event and where that run published: a retry of the same run
 * neither counts the failure again nor, once the publish is recorded, publishes
 * again. The remaining at-least-once window is a crash (or a failed update)
 * between Kafka's ack of the DLQ record and the update that records it: the retry
 * then publishes a second copy. A redrive of either copy is safe (the store
 * applies an event at most once), and `idem-run-id` tells the copies apart.
 */
import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';

import { rawToKafkaParts } from '../events/envelope';
import { workflowIdFor } from '../events/identity';
import { dlqHeaders, withoutDlqHeaders } from '../dlq/headers';
import type { DlqPublisher } from '../dlq/publisher';
import { dlqTopicFor } from '../dlq/topic';
import { markDeadLettered } from '../store/sql/mark-dead-lettered';
import { recordDeadLetterPublished } from '../store/sql/record-dead-letter-published';
import type { DeadLetterInput, DeadLetterResult } from '../workflows/types';

/** Optional counters; prom-client Counters fit. */
export interface DeadLetterMetrics {
  deadLettered?: { inc(labels: { reason: string; stage: string }): void };
}

export interface DeadLetterDeps {
  pool: Pool;
  dlq: DlqPublisher;
  metrics?: DeadLetterMetrics;
  /** Clock for `idem-dead-lettered-at`. @default () => new Date() */
  now?: () => Date;
  /** Told of each event this worker marks dead-lettered (`idem consume`'s own ingester). */
  settled?: (dedupKey: string, as: 'dead_lettered') => void;
}

/** processed_events.last_error keeps this much of the error text. */
const MAX_STORED_ERROR_LENGTH = 10_000;

export function createDeadLetter(
  deps: DeadLetterDeps,
): (input: DeadLetterInput) => Promise<DeadLetterResult> {
  return async function deadLetter(input) {
    const { info, log } = Context.current();
    return deadLetterRun(deps, input, {
      workflowId: info.workflowExecution?.workflowId,
      runId: info.workflowExecution?.runId,
      warn: (msg, meta) => log.warn(msg, meta),
      stage: 'workflow',
    });
  };
}

/**
 * Dead-letters the event of one workflow run: the activity's body, and what the reconciler
 * (src/reconcile/closed-runs.ts) does for a run that was terminated before it could.
 */
export async function deadLetterRun(
  deps: DeadLetterDeps,
  input: DeadLetterInput,
  run: {
    workflowId: string | undefined;
    runId: string | undefined;
    warn: (msg: string, meta: Record<string, unknown>) => void;
    /** idem_dead_lettered_total's stage label. */
    stage: string;
  },
): Promise<DeadLetterResult> {
  const { event, message } = input;
  const { workflowId, runId } = run;
  // THE DEDUP KEY (src/events/identity.ts), not the workflow ID: a redrive runs
  // under its own workflow ID but marks the same row.
  const dedupKey = workflowIdFor(event.source, event.id);

  const mark = await markDeadLettered(deps.pool, {
    dedupKey,
    source: event.source,
    id: event.id,
    type: event.type,
    eventKey: event.key ?? null,
    attempts: input.attempts,
    workflowId: workflowId ?? null,
    runId: runId ?? null,
    kafkaTopic: message.topic,
    kafkaPartition: message.partition,
    kafkaOffset: message.offset,
    reason: input.reason,
    error: input.error.slice(0, MAX_STORED_ERROR_LENGTH),
  });
  if (mark.status === 'dead_lettered') deps.settled?.(dedupKey, 'dead_lettered');
  if (mark.status === 'dead_lettered' && mark.published) {
    // A retry of this run: the record is already in the DLQ.
    return mark.published;
  }
  if (mark.status === 'applied') {
    // The effects are committed (for example the last attempt committed but its
    // completion was lost, or another run applied the event meanwhile). The row
    // stays 'applied'; the record still goes to the DLQ because this run failed,
    // and redriving it is a harmless duplicate.
    run.warn('dead-lettering an event that is already applied', {
      dedupKey,
      reason: input.reason,
    });
  }

  const parts = rawToKafkaParts(message);
  const published = await deps.dlq.publish({
    topic: dlqTopicFor(message.topic),
    key: parts.key,
    value: parts.value,
    headers: {
      ...withoutDlqHeaders(parts.headers),
      ...dlqHeaders({
        reason: input.reason,
        error: input.error,
        attempts: input.attempts,
        originalTopic: message.topic,
        originalPartition: message.partition,
        originalOffset: message.offset,
        originalTimestamp: message.timestamp,
        workflowId,
        runId,
        deadLetteredAt: (deps.now ?? (() => new Date()))(),
        cloudEventId: event.id,
        eventSource: event.source,
        eventType: event.type,
      }),
    },
  });
  if (mark.status === 'dead_lettered') {
    await recordDeadLetterPublished(deps.pool, { dedupKey, runId: runId ?? null, ...published });
  }
  deps.metrics?.deadLettered?.inc({ reason: input.reason, stage: run.stage });
  return published;
}
