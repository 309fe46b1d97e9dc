import type { Queryable } from './queryable';

/** The database server's clock (`now()`), to compare with times it wrote. */
export async function serverTime(q: Queryable): Promise<Date> {
  const { rows } = await q.query<{ now: Date }>('select now() as now');
  const r = rows[0];
  if (!r) throw new Error('select now() returned no row');
  return r.now;
}
