import type { Queryable } from './queryable';

/** Events applied and dead-lettered in the last `seconds` (by `processed_at`, the time of the
 * row's last change; one index range scan): `idem status`'s throughput. */
export async function recentOutcomes(
  client: Queryable,
  seconds: number,
): Promise<{ applied: number; deadLettered: number }> {
  const { rows } = await client.query<{ applied: string; dead_lettered: string }>(
    `select count(*) filter (where status = 'applied') as applied,
            count(*) filter (where status = 'dead_lettered') as dead_lettered
       from processed_events
      where processed_at > now() - make_interval(secs => $1)`,
    [seconds],
  );
  return { applied: Number(rows[0]?.applied ?? 0), deadLettered: Number(rows[0]?.dead_lettered ?? 0) };
}
