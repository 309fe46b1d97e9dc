import type { Queryable } from './queryable';

/** Outbox rows, in total and not yet published; optionally only those caused by one event. */
export async function countOutbox(
  client: Queryable,
  filter: { causedBy?: string } = {},
): Promise<{ total: number; unpublished: number }> {
  const { rows } = await client.query<{ total: string; unpublished: string }>(
    `select count(*) as total, count(*) filter (where published_at is null) as unpublished
       from outbox where $1::text is null or caused_by = $1`,
    [filter.causedBy ?? null],
  );
  return { total: Number(rows[0]?.total ?? 0), unpublished: Number(rows[0]?.unpublished ?? 0) };
}
