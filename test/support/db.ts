/**
 * PostgreSQL for idem's own tests: a fresh, migrated database per test file (the
 * exported helper of src/testing, named `idem_t_<prefix>_<random>`) and transactions
 * a test can hold open while something else runs.
 */
import type { Pool, PoolClient } from 'pg';
import { migrations as ledgerMigrations } from '../../examples/ledger';
import { inTransaction } from '../../src/store/transaction';
import { createTestDatabase as createDatabase, type TestDatabase } from '../../src/testing';

export type { TestDatabase };

/** With the ledger example's tables too: most of idem's tests apply ledger events. */
export function createTestDatabase(prefix: string): Promise<TestDatabase> {
  return createDatabase({ prefix: `t_${prefix}`, migrations: ledgerMigrations ? [ledgerMigrations] : [] });
}

/**
 * A database for the whole test file: created before its first test, dropped after
 * its last. Read `pool` only inside tests and hooks.
 */
export function useTestDatabase(prefix: string): { readonly pool: Pool; readonly url: string } {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(prefix);
  });
  afterAll(async () => {
    await db?.drop();
  });
  const ready = (): TestDatabase => {
    if (!db) throw new Error(`the ${prefix} test database is not created yet (read it inside a test)`);
    return db;
  };
  return {
    get pool() {
      return ready().pool;
    },
    get url() {
      return ready().url;
    },
  };
}

/** Runs `fn` in a transaction: committed if it resolves, rolled back if it throws. */
export function inTx<T>(pool: Pool, fn: (tx: PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, fn);
}

/**
 * Begins a transaction on a connection of its own and hands it to `fn` with `end`,
 * which commits or rolls it back when the test chooses (while other work waits on
 * its locks, say). Rolled back if `fn` returns without ending it or throws.
 */
export async function openTransaction<T>(
  pool: Pool,
  fn: (tx: PoolClient, end: (how: 'commit' | 'rollback') => Promise<void>) => Promise<T>,
): Promise<T> {
  const tx = await pool.connect();
  let open = true;
  const end = async (how: 'commit' | 'rollback') => {
    if (!open) throw new Error('the transaction is already ended');
    open = false;
    await tx.query(how);
  };
  let broken: Error | undefined;
  try {
    await tx.query('begin');
    return await fn(tx, end);
  } finally {
    if (open) {
      await tx.query('rollback').catch((err: unknown) => {
        broken = err instanceof Error ? err : new Error(String(err));
      });
    }
    tx.release(broken);
  }
}
