import type { Pool, PoolClient } from 'pg';
import { TransactionRolledBackError } from '../errors';
import { markStoreError, tagStoreErrors } from './store-error';

/** What `fn` returns to end its transaction with ROLLBACK instead of COMMIT. */
export class Rollback<T> {
  constructor(readonly value: T) {}
}

/** Ends the transaction with ROLLBACK and makes {@link inTransaction} resolve with `value`. */
export function rollback<T>(value: T): Rollback<T> {
  return new Rollback(value);
}

/**
 * Runs `fn` in one transaction on a pooled client and owns its end: COMMIT when
 * `fn` resolves, ROLLBACK when it throws or returns {@link rollback}(value).
 *
 * PostgreSQL answers the COMMIT of a transaction that a failed statement aborted
 * with ROLLBACK, not with an error (when the callback caught that statement's
 * error): that is a {@link TransactionRolledBackError}, never a silent success.
 * A client whose ROLLBACK failed is destroyed rather than returned to the pool
 * mid-transaction. Errors of the connection and of its statements are marked as the
 * store's (store-error.ts), so that a failed attempt is an outage only when PostgreSQL failed.
 */
export async function inTransaction<T>(
  pool: Pool,
  fn: (tx: PoolClient) => Promise<T | Rollback<T>>,
): Promise<T> {
  const client = tagStoreErrors(
    await pool.connect().catch((err: unknown) => {
      throw markStoreError(err);
    }),
  );
  let broken: Error | undefined;
  try {
    await client.query('begin');
    const result = await fn(client);
    if (result instanceof Rollback) {
      await client.query('rollback');
      return result.value;
    }
    const commit = await client.query('commit');
    if (commit.command !== 'COMMIT') {
      throw new TransactionRolledBackError(
        'the transaction was rolled back at commit: a statement failed inside it and its error was ' +
          'caught (use a savepoint to recover from SQL errors); nothing was written',
      );
    }
    return result;
  } catch (err) {
    if (!(err instanceof TransactionRolledBackError)) {
      await client.query('rollback').catch((rollbackErr: unknown) => {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      });
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
