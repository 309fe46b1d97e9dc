import type { Queryable } from './queryable';

export interface BalanceMismatch {
  account: string;
  /** account_balances, or null when the account has entries but no balance row. */
  balance: number | null;
  entries: number | null;
  /** What its ledger entries add up to. */
  sum: number;
  count: number;
}

/** Accounts whose balance or entry count is not what their ledger entries add up to: an effect
 * applied twice (or lost) shows here, whichever event it was. */
export async function findBalanceMismatches(q: Queryable): Promise<BalanceMismatch[]> {
  const { rows } = await q.query<{
    account: string;
    balance: string | null;
    entries: string | null;
    sum: string;
    count: string;
  }>(
    `select coalesce(b.account, e.account) as account, b.balance, b.entries,
            coalesce(e.sum, 0) as sum, coalesce(e.count, 0) as count
       from account_balances b
       full join (select account, sum(amount) as sum, count(*) as count
                    from ledger_entries group by account) e on e.account = b.account
      where b.balance is distinct from coalesce(e.sum, 0) or b.entries is distinct from coalesce(e.count, 0)
      order by 1`,
  );
  const num = (s: string | null) => (s === null ? null : Number(s));
  return rows.map((r) => ({
    account: r.account,
    balance: num(r.balance),
    entries: num(r.entries),
    sum: Number(r.sum),
    count: Number(r.count),
  }));
}
