import type { Queryable } from './queryable';

/** Which of these dedup keys the store records as applied: one query for a fetched batch. */
export async function findApplied(q: Queryable, dedupKeys: readonly string[]): Promise<Set<string>> {
  if (dedupKeys.length === 0) return new Set();
  const { rows } = await q.query<{ event_id: string }>(
    `select event_id from processed_events where event_id = any($1::text[]) and status = 'applied'`,
    [dedupKeys],
  );
  return new Set(rows.map((r) => r.event_id));
}
