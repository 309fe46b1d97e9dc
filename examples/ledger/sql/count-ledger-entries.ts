import type { Queryable } from './queryable';

/** Number of ledger entries, optionally of one event (0 or 1) or one account. */
export async function countLedgerEntries(
  client: Queryable,
  filter: { dedupKey?: string; account?: string } = {},
): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `select count(*) as n from ledger_entries
      where ($1::text is null or event_id = $1) and ($2::text is null or account = $2)`,
    [filter.dedupKey ?? null, filter.account ?? null],
  );
  return Number(rows[0]?.n ?? 0);
}
