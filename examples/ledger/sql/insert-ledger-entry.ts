import type { Queryable } from './queryable';

export interface LedgerEntryRow {
  /** Dedup key of the event (column `event_id`): a second insert for one event fails on the primary key. */
  dedupKey: string;
  account: string;
  /** Signed cents: positive for a credit, negative for a debit. */
  amount: number;
}

export async function insertLedgerEntry(tx: Queryable, row: LedgerEntryRow): Promise<void> {
  await tx.query(`insert into ledger_entries (event_id, account, amount) values ($1, $2, $3)`, [
    row.dedupKey,
    row.account,
    row.amount,
  ]);
}
