import type { Queryable } from './queryable';

/**
 * Which of these dedup keys the store records as settled: applied, or dead-lettered (the
 * boundary of per-key ordering). One query for every key a process is waiting on.
 */
export async function findSettled(q: Queryable, dedupKeys: readonly string[]): Promise<Set<string>> {
  if (dedupKeys.length === 0) return new Set();
  const { rows } = await q.query<{ event_id: string }>(
    `select event_id from processed_events
      where event_id = any($1::text[]) and status in ('applied', 'dead_lettered')`,
    [dedupKeys],
  );
  return new Set(rows.map((r) => r.event_id));
}
