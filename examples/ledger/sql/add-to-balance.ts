import type { Queryable } from './queryable';

/** balance += amount, entries += 1 (creating the account at 0); returns the new balance in cents. */
export async function addToBalance(tx: Queryable, account: string, amount: number): Promise<number> {
  const { rows } = await tx.query<{ balance: string }>(
    `insert into account_balances as b (account, balance, entries)
     values ($1, $2, 1)
     on conflict (account) do update set
       balance = b.balance + excluded.balance,
       entries = b.entries + 1,
       updated_at = now()
     returning balance`,
    [account, amount],
  );
  const r = rows[0];
  if (!r) throw new Error('upsert of account_balances returned no row');
  return Number(r.balance);
}
