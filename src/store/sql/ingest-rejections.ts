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

/** Rows of rejected records published before `cutoff` (`idem prune`, src/prune/prune.ts). */
export async function countRejectionsBefore(q: Queryable, cutoff: Date): Promise<number> {
  const { rows } = await q.query<{ n: string }>(
    'select count(*) as n from ingest_rejections where published_at < $1::timestamptz',
    [cutoff.toISOString()],
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Deletes at most `limit` rows of rejected records published before `cutoff`, oldest first, in one
 * statement; rows locked by a transaction in progress are skipped. Returns how many it deleted.
 */
export async function deleteRejectionsBefore(q: Queryable, cutoff: Date, limit: number): Promise<number> {
  const { rowCount } = await q.query(
    `delete from ingest_rejections where (topic, kafka_partition, kafka_offset) in (
       select topic, kafka_partition, kafka_offset from ingest_rejections
        where published_at < $1::timestamptz
        order by published_at
        limit $2
        for update skip locked)`,
    [cutoff.toISOString(), limit],
  );
  return rowCount ?? 0;
}
