/** Lock probes: seeing, from outside, that a statement waits on another transaction's lock. */
import type { Pool } from 'pg';
import { eventually } from './poll';

/** Backends of this pool's database that wait for a lock (a blocked insert, say). */
export async function lockWaiters(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `select count(*) as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`,
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * Starts `op` and resolves once one more backend waits for a lock than before it
 * started, i.e. once `op` is blocked. `result` is `op`'s promise, still pending.
 */
export async function startBlocked<T>(
  pool: Pool,
  op: () => Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<{ result: Promise<T> }> {
  const before = await lockWaiters(pool);
  const result = op();
  await eventually(async () => (await lockWaiters(pool)) > before, timeoutMs, `${what} to block`, 10);
  return { result };
}
