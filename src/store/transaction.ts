import type { Pool, PoolClient } from 'pg';

/**
 * Runs `fn` inside BEGIN on a pooled client. `fn` ends the transaction itself on
 * success (COMMIT, or ROLLBACK for a no-op); if it throws, the transaction is rolled
 * back, and a client whose rollback failed is destroyed rather than returned to the
 * pool mid-transaction.
 */
export async function inTransaction<T>(pool: Pool, fn: (tx: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
    return await fn(client);
  } catch (err) {
    await client.query('rollback').catch((rollbackErr: unknown) => {
      broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
