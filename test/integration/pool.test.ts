/**
 * A PostgreSQL connection that dies while its client is checked out (inside a
 * transaction, between statements) must not kill the process: the server ends the
 * backend for real (`pg_terminate_backend`, what a crash or failover does to open
 * connections), and the pool's client reports it without an unhandled 'error'.
 */
import fs from 'node:fs';
import type { PoolClient } from 'pg';
import { loadConfig } from '../../src/config';
import { silentLogger, type Logger } from '../../src/observability/logger';
import { layoutFor } from '../../src/stack/layout';
import { postgresPid } from '../../src/stack/postgres';
import { procStat } from '../../src/stack/proc-stat';
import { isStoreUnavailable } from '../../src/store/store-error';
import { inTransaction } from '../../src/store/transaction';
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

describe("a transaction's deadline (an attempt's timeout less a margin)", () => {
  /** Every process of the stack's PostgreSQL, frozen with SIGSTOP: connections stay open and get
   * no answer, new ones are accepted by the kernel and never greeted — a server that stopped
   * answering, not one that refuses. */
  function freezePostgres(): () => void {
    const layout = layoutFor(loadConfig().cacheDir);
    const postmaster = postgresPid(layout);
    if (postmaster === undefined) throw new Error('the stack runs no PostgreSQL of its own to freeze');
    const children = fs
      .readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .filter((pid) => procStat(pid)?.ppid === postmaster);
    // A backend that exits between the listing and its signal (ESRCH) needs no freezing; any other
    // failure thaws what was frozen, or PostgreSQL would stay stopped for every later test.
    const signal = (pid: number, sig: NodeJS.Signals) => {
      try {
        process.kill(pid, sig);
        return true;
      } catch (err) {
        if (pid !== postmaster && (err as NodeJS.ErrnoException).code === 'ESRCH') return false;
        throw err;
      }
    };
    const frozen: number[] = [];
    const thaw = () => {
      for (const pid of frozen.splice(0)) signal(pid, 'SIGCONT');
    };
    try {
      for (const pid of [postmaster, ...children]) if (signal(pid, 'SIGSTOP')) frozen.push(pid);
    } catch (err) {
      thaw();
      throw err;
    }
    return thaw;
  }

  const slowOk = (ms: number) => (tx: PoolClient) =>
    tx.query(`select pg_sleep(${ms / 1000})`).then(() => 'done' as const);

  test('a server that stops answering mid-transaction fails the wait at the deadline, as an outage', async () => {
    const pool = createPool({ url: db.url, max: 2, logger: silentLogger });
    let thaw: (() => void) | undefined;
    try {
      await pool.query('select 1'); // an idle client: the transaction starts without connecting
      thaw = freezePostgres();
      const began = Date.now();
      const err: unknown = await inTransaction(pool, (tx) => tx.query('select 1'), {
        deadline: began + 1_500,
        probeMs: 500,
      }).catch((e: unknown) => e);
      const took = Date.now() - began;
      thaw();
      thaw = undefined;
      expect(isStoreUnavailable(err)).toBe(true);
      // well before the pool's own no-answer timeout (statement timeout + 5 s)
      expect(took).toBeLessThan(10_000);
      expect((await pool.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    } finally {
      thaw?.();
      await pool.end();
    }
  });

  test('a server that stops answering before the connection is made fails it at the deadline, as an outage', async () => {
    const pool = createPool({ url: db.url, max: 2, logger: silentLogger });
    let thaw: (() => void) | undefined;
    try {
      thaw = freezePostgres();
      const err: unknown = await inTransaction(pool, (tx) => tx.query('select 1'), {
        deadline: Date.now() + 1_000,
        probeMs: 500,
      }).catch((e: unknown) => e);
      thaw();
      thaw = undefined;
      expect(isStoreUnavailable(err)).toBe(true);
      expect(String(err)).toMatch(/PostgreSQL did not answer a connection request/);
    } finally {
      thaw?.();
      await pool.end();
    }
  });

  test('a slow statement of a server that answers goes on past the deadline', async () => {
    const pool = createPool({ url: db.url, max: 2, logger: silentLogger });
    try {
      await expect(
        inTransaction(pool, slowOk(1_500), { deadline: Date.now() + 300, probeMs: 500 }),
      ).resolves.toBe('done');
    } finally {
      await pool.end();
    }
  });
});
