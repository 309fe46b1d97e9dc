/**
 * The ledger's checks for `idem audit` (HandlerModule.audit): one ledger entry per applied event
 * and none for an event not applied, and every balance the sum of its account's entries. An event
 * applied twice would show in the balances even where its entry could not be doubled (the entry's
 * primary key is the dedup key).
 */
import type { EffectViolation, HandlerAudit } from '../../src';
import { ACCOUNT_CREDITED, ACCOUNT_DEBITED } from './handlers';
import { findBalanceMismatches } from './sql/find-balance-mismatches';
import { findEntryMismatches } from './sql/find-entry-mismatches';

const LEDGER_TYPES = [ACCOUNT_CREDITED, ACCOUNT_DEBITED];

export const audit: HandlerAudit = {
  async checkEvents(db, events): Promise<EffectViolation[]> {
    return (await findEntryMismatches(db, events, LEDGER_TYPES)).map((m) =>
      m.hasEntry
        ? {
            check: 'ledger_entry_without_applied_event',
            dedupKey: m.dedupKey,
            detail: `a ledger entry, but processed_events ${m.status ? `says ${m.status}` : 'has no row'} for the event`,
          }
        : {
            check: 'ledger_entry_missing',
            dedupKey: m.dedupKey,
            detail: 'applied, but no ledger entry',
          },
    );
  },
  async checkTables(db): Promise<EffectViolation[]> {
    return (await findBalanceMismatches(db)).map((m) => ({
      check: 'balance_mismatch',
      detail:
        `account ${JSON.stringify(m.account)}: balance ${m.balance ?? 'missing'} over ${m.entries ?? 'no'} entries, ` +
        `its ledger entries add up to ${m.sum} over ${m.count}`,
    }));
  },
};
