import type { Queryable } from './queryable';

/** Where a parked event was read: the record held behind its key. */
export interface ParkedAt {
  topic: string;
  partition: number;
  offset: string;
}

/** Which of these events (by dedup key) wait parked behind their key, and at which record. */
export async function findParkedEvents(
  q: Queryable,
  dedupKeys: readonly string[],
): Promise<Map<string, ParkedAt>> {
  if (dedupKeys.length === 0) return new Map();
  const { rows } = await q.query<{
    event_id: string;
    topic: string;
    kafka_partition: number;
    kafka_offset: string;
  }>(
    `select event_id, topic, kafka_partition, kafka_offset::text
       from parked_events where event_id = any($1::text[])`,
    [dedupKeys],
  );
  return new Map(
    rows.map((r) => [r.event_id, { topic: r.topic, partition: r.kafka_partition, offset: r.kafka_offset }]),
  );
}
