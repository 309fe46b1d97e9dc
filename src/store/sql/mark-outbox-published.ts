import type { Queryable } from './queryable';

/** Mark rows published (by seq); returns how many were marked. */
export async function markOutboxPublished(tx: Queryable, seqs: readonly string[]): Promise<number> {
  if (seqs.length === 0) return 0;
  const { rowCount } = await tx.query(
    `update outbox set published_at = now() where seq = any($1::bigint[]) and published_at is null`,
    [seqs],
  );
  return rowCount ?? 0;
}
