import type { DlqReason } from '../../events/types';
import type { Queryable } from './queryable';

export interface MarkDeadLetteredRow {
  /** The dedup key (`dedupKeyFor(source, id)`), primary key of processed_events (`event_id`). */
  dedupKey: string;
  source: string;
  /** The CloudEvent `id`. */
  id: string;
  type: string;
  eventKey: string | null;
  attempts: number;
  workflowId: string | null;
  runId: string | null;
  kafkaTopic: string;
  kafkaPartition: number;
  kafkaOffset: string;
  reason: DlqReason;
  error: string;
}

export type MarkDeadLetteredResult =
  | {
      status: 'dead_lettered';
      deadLetteredCount: number;
      /** Set when this same run already published the record to the dead-letter topic. */
      published: { topic: string; partition: number; offset: string } | null;
    }
  /** The event is applied: its row is left untouched. */
  | { status: 'applied' };

/**
 * Record that a run dead-lettered the event, without ever overwriting an
 * 'applied' row (its side effects are committed; a redrive of it is a duplicate).
 *
 * Safe under activity retries: `run_id` holds the run that last dead-lettered the
 * event, and when the same run marks it again `dead_lettered_count` is not
 * incremented and the DLQ coordinates it recorded are kept (and returned, so the
 * caller need not publish again). A different run (a redrive, a Temporal reset)
 * counts once more and clears them. A run without an id (null) always counts.
 */
export async function markDeadLettered(
  client: Queryable,
  row: MarkDeadLetteredRow,
): Promise<MarkDeadLetteredResult> {
  const { rows } = await client.query<{
    dead_lettered_count: number;
    dlq_topic: string | null;
    dlq_partition: number | null;
    dlq_offset: string | null;
  }>(
    `insert into processed_events as pe
       (event_id, source, id, type, event_key, status, attempts, workflow_id, run_id,
        kafka_topic, kafka_partition, kafka_offset, last_reason, last_error, dead_lettered_count)
     values ($1, $2, $3, $4, $5, 'dead_lettered', $6, $7, $8, $9, $10, $11, $12, $13, 1)
     on conflict (event_id) do update set
       status = 'dead_lettered',
       attempts = excluded.attempts,
       workflow_id = excluded.workflow_id,
       kafka_topic = excluded.kafka_topic,
       kafka_partition = excluded.kafka_partition,
       kafka_offset = excluded.kafka_offset,
       last_reason = excluded.last_reason,
       last_error = excluded.last_error,
       dead_lettered_count = pe.dead_lettered_count
         + case when pe.run_id = excluded.run_id then 0 else 1 end,
       dlq_topic = case when pe.run_id = excluded.run_id then pe.dlq_topic end,
       dlq_partition = case when pe.run_id = excluded.run_id then pe.dlq_partition end,
       dlq_offset = case when pe.run_id = excluded.run_id then pe.dlq_offset end,
       run_id = excluded.run_id,
       processed_at = now()
     where pe.status <> 'applied'
     returning dead_lettered_count, dlq_topic, dlq_partition, dlq_offset`,
    [
      row.dedupKey,
      row.source,
      row.id,
      row.type,
      row.eventKey,
      row.attempts,
      row.workflowId,
      row.runId,
      row.kafkaTopic,
      row.kafkaPartition,
      row.kafkaOffset,
      row.reason,
      row.error,
    ],
  );
  const r = rows[0];
  if (!r) return { status: 'applied' };
  const published =
    r.dlq_topic !== null && r.dlq_partition !== null && r.dlq_offset !== null
      ? { topic: r.dlq_topic, partition: r.dlq_partition, offset: r.dlq_offset }
      : null;
  return { status: 'dead_lettered', deadLetteredCount: r.dead_lettered_count, published };
}
