import type { Queryable } from './queryable';

export interface DeadLetterPublishedRow {
  /** The dedup key (processed_events.event_id) of the dead-lettered event. */
  dedupKey: string;
  /** Only the run that marked the row records where it published; null matches nothing. */
  runId: string | null;
  topic: string;
  partition: number;
  offset: string;
}

/**
 * Remember where the dead-lettering run published the record, so a retry of the
 * same run returns it instead of publishing again. Returns whether a row matched
 * (false when the row was applied or dead-lettered by another run meanwhile).
 */
export async function recordDeadLetterPublished(
  client: Queryable,
  row: DeadLetterPublishedRow,
): Promise<boolean> {
  const { rowCount } = await client.query(
    `update processed_events
        set dlq_topic = $3, dlq_partition = $4, dlq_offset = $5
      where event_id = $1 and run_id = $2 and status = 'dead_lettered'`,
    [row.dedupKey, row.runId, row.topic, row.partition, row.offset],
  );
  return (rowCount ?? 0) > 0;
}
