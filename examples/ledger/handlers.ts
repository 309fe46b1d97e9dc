/**
 * The ledger example's handlers. `account.credited` and `account.debited` carry
 * `data: { account: string, amount: integer cents > 0 }`. Each applied event
 * inserts one ledger entry (keyed by the event's dedup key, so a duplicate that
 * slipped through both dedup layers would fail on the primary key) and moves the
 * account's balance; a duplicate applied twice would show at once in the balances.
 *
 * Choice: a debit may take a balance below zero. The demo is about exactly-once
 * effects, not about business rules; a real ledger would throw a
 * PermanentHandlerError here to dead-letter the debit. One rule it does keep: a
 * balance stays within ±(2^53 - 1) cents, where JavaScript numbers (and the balance
 * it emits) are exact; an event that would take it further is refused
 * (PermanentHandlerError: dead-lettered as handler_failed, not retried).
 *
 * Every applied event also emits `account.balance_changed` to the outbox, so the
 * demo shows the relay at work.
 */
import { z } from 'zod';

import { defineHandler, PermanentHandlerError, type HandlerContext } from '../../src';
import { recordLedgerEntry } from './sql/record-ledger-entry';

export const ACCOUNT_CREDITED = 'account.credited';
export const ACCOUNT_DEBITED = 'account.debited';
export const BALANCE_CHANGED = 'account.balance_changed';

// Unknown members are ignored: a plain JSON event without a `data` member hands
// the whole object (with its `id` and `type`) to the handler.
export const ledgerDataSchema = z.object({
  /** No control characters: PostgreSQL text cannot hold U+0000, and account names are shown to people. */
  account: z
    .string()
    .min(1)
    .max(200)
    .regex(/^\P{Cc}+$/u, 'an account must not hold control characters'),
  /** Cents, positive; the event type gives the sign. */
  amount: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
});

export type LedgerData = z.infer<typeof ledgerDataSchema>;

/** The `data` of an `account.balance_changed` outbox event. */
export interface BalanceChanged {
  account: string;
  /** Signed change in cents. */
  delta: number;
  /** Balance after the change, in cents. */
  balance: number;
  /** Dedup key of the event that caused the change. */
  causedBy: string;
}

async function apply(ctx: HandlerContext, account: string, delta: number): Promise<void> {
  // The entry and the balance in one statement (one round trip).
  const balance = await recordLedgerEntry(ctx.tx, { dedupKey: ctx.dedupKey, account, amount: delta });
  // The balance is read as a JavaScript number: past 2^53 - 1 it would silently round. Refused,
  // and the transaction (the entry, the balance) rolls back.
  if (!Number.isSafeInteger(balance))
    throw new PermanentHandlerError(
      `account ${JSON.stringify(account)}: this event would move its balance beyond the 2^53 - 1 cents ` +
        '(either way) that the ledger keeps exact',
    );
  const data: BalanceChanged = { account, delta, balance, causedBy: ctx.dedupKey };
  await ctx.emit({ type: BALANCE_CHANGED, data, key: account, subject: account });
}

export const accountCredited = defineHandler(ACCOUNT_CREDITED, ledgerDataSchema, (ctx, d) =>
  apply(ctx, d.account, d.amount),
);

export const accountDebited = defineHandler(ACCOUNT_DEBITED, ledgerDataSchema, (ctx, d) =>
  apply(ctx, d.account, -d.amount),
);
