import type { Queryable } from './queryable';

/** What `idem audit` needs of an event's dedup record. */
export interface ProcessedSummary {
  /** The dedup key (`processed_events.event_id`). */
  dedupKey: string;
  status: 'applied' | 'dead_lettered';
  /** The record the row was written for: the one that applied the event, or whose run dead-lettered it. */
  kafkaTopic: string | null;
  kafkaPartition: number | null;
  kafkaOffset: string | null;
  workflowId: string | null;
  runId: string | null;
  deadLetteredCount: number;
  redriveCount: number;
  /** When the row last changed (claimed, dead-lettered, redriven); the server's clock. */
  processedAt: Date;
}

/** The dedup records of these events (by dedup key), one query for a batch; absent keys have none. */
export async function findProcessed(
  q: Queryable,
  dedupKeys: readonly string[],
): Promise<Map<string, ProcessedSummary>> {
  if (dedupKeys.length === 0) return new Map();
  const { rows } = await q.query<{
    event_id: string;
    status: 'applied' | 'dead_lettered';
    kafka_topic: string | null;
    kafka_partition: number | null;
    kafka_offset: string | null;
    workflow_id: string | null;
    run_id: string | null;
    dead_lettered_count: number;
    redrive_count: number;
    processed_at: Date;
  }>(
    `select event_id, status, kafka_topic, kafka_partition, kafka_offset::text, workflow_id, run_id,
            dead_lettered_count, redrive_count, processed_at
       from processed_events where event_id = any($1::text[])`,
    [dedupKeys],
  );
  return new Map(
    rows.map((r) => [
      r.event_id,
      {
        dedupKey: r.event_id,
        status: r.status,
        kafkaTopic: r.kafka_topic,
        kafkaPartition: r.kafka_partition,
        kafkaOffset: r.kafka_offset,
        workflowId: r.workflow_id,
        runId: r.run_id,
        deadLetteredCount: r.dead_lettered_count,
        redriveCount: r.redrive_count,
        processedAt: r.processed_at,
      },
    ]),
  );
}
