import type { Queryable } from './queryable';

/**
 * Which of these dedup keys the store records as settled, and how: applied, or dead-lettered (the
 * boundary of per-key ordering). One query for every key a process is waiting on.
 */
export async function findSettled(
  q: Queryable,
  dedupKeys: readonly string[],
): Promise<Map<string, 'applied' | 'dead_lettered'>> {
  if (dedupKeys.length === 0) return new Map();
  const { rows } = await q.query<{ event_id: string; status: 'applied' | 'dead_lettered' }>(
    `select event_id, status from processed_events
      where event_id = any($1::text[]) and status in ('applied', 'dead_lettered')`,
    [dedupKeys],
  );
  return new Map(rows.map((r) => [r.event_id, r.status]));
}
