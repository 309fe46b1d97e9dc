import type { Queryable } from './queryable';

export interface AccountBalance {
  account: string;
  /** Cents. Numbers are exact up to 2^53 cents, far beyond the demo's needs. */
  balance: number;
  entries: number;
}

/** All balances, by account; optionally only the given accounts. */
export async function getBalances(
  client: Queryable,
  accounts?: readonly string[],
): Promise<AccountBalance[]> {
  const { rows } = await client.query<{ account: string; balance: string; entries: string }>(
    `select account, balance, entries from account_balances
      where $1::text[] is null or account = any($1::text[])
      order by account`,
    [accounts ?? null],
  );
  return rows.map((r) => ({ account: r.account, balance: Number(r.balance), entries: Number(r.entries) }));
}
