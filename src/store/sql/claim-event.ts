import type { Queryable } from './queryable';

export interface ClaimEventRow {
  /** The dedup key (`dedupKeyFor(source, id)`), primary key of processed_events (`event_id`). */
  dedupKey: string;
  source: string;
  /** The CloudEvent `id`. */
  id: string;
  type: string;
  eventKey: string | null;
  attempt: number;
  workflowId: string | null;
  runId: string | null;
  kafkaTopic: string;
  kafkaPartition: number;
  kafkaOffset: string;
  /** An operator's redrive: an event recorded as dead-lettered may be claimed. */
  redrive: boolean;
}

export type ClaimResult =
  { claimed: true; kind: 'new' | 'redriven'; redriveCount: number } | { claimed: false };

/**
 * The second dedup layer, in one statement: record the event as applied unless it
 * already is (or is dead-lettered and this is not a redrive).
 *
 * Run it first in the transaction that applies the event's side effects. A
 * concurrent transaction that claimed the same event and has not committed yet
 * holds the row's index entry: this insert waits for it, then (read committed)
 * re-checks the committed row, so two concurrent runs of one event serialise here
 * and exactly one of them gets `claimed: true`. If the other rolls back, the
 * insert goes ahead.
 *
 * Returns `claimed: false` for a duplicate: the caller must roll back and skip
 * the side effects.
 */
export async function claimEvent(tx: Queryable, row: ClaimEventRow): Promise<ClaimResult> {
  const { rows } = await tx.query<{ inserted: boolean; redrive_count: number }>(
    `insert into processed_events as pe
       (event_id, source, id, type, event_key, status, attempts, workflow_id, run_id,
        kafka_topic, kafka_partition, kafka_offset, redrive_count)
     values ($1, $2, $3, $4, $5, 'applied', $6, $7, $8, $9, $10, $11, case when $12 then 1 else 0 end)
     on conflict (event_id) do update set
       status = 'applied',
       attempts = excluded.attempts,
       workflow_id = excluded.workflow_id,
       run_id = excluded.run_id,
       kafka_topic = excluded.kafka_topic,
       kafka_partition = excluded.kafka_partition,
       kafka_offset = excluded.kafka_offset,
       redrive_count = pe.redrive_count + 1,
       processed_at = now()
     where pe.status <> 'applied' and ($12 or pe.status <> 'dead_lettered')
     returning (xmax = 0) as inserted, redrive_count`,
    [
      row.dedupKey,
      row.source,
      row.id,
      row.type,
      row.eventKey,
      row.attempt,
      row.workflowId,
      row.runId,
      row.kafkaTopic,
      row.kafkaPartition,
      row.kafkaOffset,
      row.redrive,
    ],
  );
  const r = rows[0];
  if (!r) return { claimed: false };
  return { claimed: true, kind: r.inserted ? 'new' : 'redriven', redriveCount: r.redrive_count };
}
