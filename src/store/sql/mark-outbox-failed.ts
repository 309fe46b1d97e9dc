import type { Queryable } from './queryable';

/** Moves an unpublished row aside with the error Kafka gave for it (the relay skips it). */
export async function markOutboxFailed(tx: Queryable, seq: string, error: string): Promise<void> {
  await tx.query(
    `update outbox set failed_at = now(), last_error = $2 where seq = $1::bigint and published_at is null`,
    [seq, error.slice(0, 10_000)],
  );
}
