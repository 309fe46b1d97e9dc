import type { Queryable } from './queryable';

/** A Kafka record's coordinates. */
export interface RecordAt {
  topic: string;
  partition: number;
  offset: string;
}

/** Whether the dead-letter copy of this rejected record is recorded as published. */
export async function rejectionPublished(q: Queryable, at: RecordAt): Promise<boolean> {
  const { rowCount } = await q.query(
    'select 1 from ingest_rejections where topic = $1 and kafka_partition = $2 and kafka_offset = $3',
    [at.topic, at.partition, at.offset],
  );
  return (rowCount ?? 0) > 0;
}

/** Records that the dead-letter copy of this rejected record is published. */
export async function recordRejectionPublished(
  q: Queryable,
  at: RecordAt & { reason: string },
): Promise<void> {
  await q.query(
    `insert into ingest_rejections (topic, kafka_partition, kafka_offset, reason)
     values ($1, $2, $3, $4) on conflict do nothing`,
    [at.topic, at.partition, at.offset, at.reason],
  );
}
