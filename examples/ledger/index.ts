/**
 * The ledger example as a handler module: what `idem consume --handlers examples/ledger`
 * loads. A service of your own exports the same things from its handlers module (`audit` is optional).
 */
import path from 'node:path';
import type { HandlerModule } from '../../src';
import { accountCredited, accountDebited } from './handlers';

export const handlers: HandlerModule['handlers'] = [accountCredited, accountDebited];

/** Its tables (ledger_entries, account_balances), applied by workers at start as the set `ledger`. */
export const migrations: HandlerModule['migrations'] = {
  name: 'ledger',
  dir: path.join(__dirname, 'migrations'),
};

/** Checks of its effects for `idem audit`: one entry per applied event, balances that add up. */
export { audit } from './audit';

export * from './handlers';
export { insertLedgerEntry, type LedgerEntryRow } from './sql/insert-ledger-entry';
export { addToBalance } from './sql/add-to-balance';
export { recordLedgerEntry } from './sql/record-ledger-entry';
export { getBalances, type AccountBalance } from './sql/get-balances';
export { countLedgerEntries } from './sql/count-ledger-entries';
