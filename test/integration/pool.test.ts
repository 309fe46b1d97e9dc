/**
 * A PostgreSQL connection that dies while its client is checked out (inside a
 * transaction, between statements) must not kill the process: the server ends the
 * backend for real (`pg_terminate_backend`, what a crash or failover does to open
 * connections), and the pool's client reports it without an unhandled 'error'.
 */
import { silentLogger, type Logger } from '../../src/observability/logger';
import { createPool } from '../../src/store/pool';
import { useTestDatabase } from '../support/db';
import { eventually } from '../support/poll';

const db = useTestDatabase('pool');

test('a checked-out client whose backend is terminated reports the error and the pool goes on', async () => {
  const warnings: unknown[] = [];
  const logger = { ...silentLogger, warn: (obj: unknown) => warnings.push(obj) } as unknown as Logger;
  const pool = createPool({ url: db.url, max: 2, logger });
  try {
    const client = await pool.connect();
    await client.query('begin');
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    await db.pool.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
    // The client is idle inside its transaction: the death arrives as an 'error' event.
    await eventually(() => warnings.length > 0, 10_000, 'the connection error to be reported');
    await expect(client.query('select 1')).rejects.toThrow();
    client.release(true);
    expect((await pool.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
  } finally {
    await pool.end();
  }
});
