import type { Queryable } from './queryable';

/** Outbox rows the relay still has to publish: unpublished and not moved aside as failed
 * (`idem_outbox_backlog`). Reads the partial index of unpublished rows, not the whole table. */
export async function countOutboxBacklog(client: Queryable): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    'select count(*) as n from outbox where published_at is null and failed_at is null',
  );
  return Number(rows[0]?.n ?? 0);
}
