import type { Queryable } from './queryable';

export interface ProcessedEvent {
  /** The dedup key (column `event_id`, the primary key). */
  dedupKey: string;
  source: string;
  /** The CloudEvent `id`. */
  id: string;
  type: string;
  eventKey: string | null;
  status: 'applied' | 'dead_lettered';
  attempts: number;
  workflowId: string | null;
  runId: string | null;
  kafkaTopic: string | null;
  kafkaPartition: number | null;
  kafkaOffset: string | null;
  lastReason: string | null;
  lastError: string | null;
  deadLetteredCount: number;
  redriveCount: number;
  dlqTopic: string | null;
  dlqPartition: number | null;
  dlqOffset: string | null;
  firstSeenAt: Date;
  processedAt: Date;
}

/** The dedup record of one event (by its dedup key), or undefined. */
export async function getProcessedEvent(
  client: Queryable,
  dedupKey: string,
): Promise<ProcessedEvent | undefined> {
  const { rows } = await client.query<{
    event_id: string;
    source: string;
    id: string;
    type: string;
    event_key: string | null;
    status: 'applied' | 'dead_lettered';
    attempts: number;
    workflow_id: string | null;
    run_id: string | null;
    kafka_topic: string | null;
    kafka_partition: number | null;
    kafka_offset: string | null;
    last_reason: string | null;
    last_error: string | null;
    dead_lettered_count: number;
    redrive_count: number;
    dlq_topic: string | null;
    dlq_partition: number | null;
    dlq_offset: string | null;
    first_seen_at: Date;
    processed_at: Date;
  }>(
    `select event_id, source, id, type, event_key, status, attempts, workflow_id, run_id,
            kafka_topic, kafka_partition, kafka_offset, last_reason, last_error,
            dead_lettered_count, redrive_count, dlq_topic, dlq_partition, dlq_offset,
            first_seen_at, processed_at
       from processed_events where event_id = $1`,
    [dedupKey],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    dedupKey: r.event_id,
    source: r.source,
    id: r.id,
    type: r.type,
    eventKey: r.event_key,
    status: r.status,
    attempts: r.attempts,
    workflowId: r.workflow_id,
    runId: r.run_id,
    kafkaTopic: r.kafka_topic,
    kafkaPartition: r.kafka_partition,
    kafkaOffset: r.kafka_offset,
    lastReason: r.last_reason,
    lastError: r.last_error,
    deadLetteredCount: r.dead_lettered_count,
    redriveCount: r.redrive_count,
    dlqTopic: r.dlq_topic,
    dlqPartition: r.dlq_partition,
    dlqOffset: r.dlq_offset,
    firstSeenAt: r.first_seen_at,
    processedAt: r.processed_at,
  };
}
