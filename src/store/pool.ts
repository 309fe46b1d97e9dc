/**
 * The PostgreSQL pool of a long-running idem process. pg emits 'error' on a client
 * whose connection dies (a server crash, `pg_ctl stop -m immediate`, a failover),
 * and the pool listens for it only while the client is idle: a client checked out
 * (inside a transaction, between two statements) has no listener, and an 'error'
 * event without one kills the process. Every client gets a listener for its whole
 * life; the statement in progress, if any, still rejects with the error, and the
 * pool replaces the client.
 */
import { Pool } from 'pg';
import type { Logger } from '../observability/logger';

export function createPool(opts: { url: string; max: number; logger: Logger }): Pool {
  const pool = new Pool({ connectionString: opts.url, max: opts.max });
  const onError = (err: Error) => opts.logger.warn({ err }, 'PostgreSQL connection failed');
  pool.on('error', onError);
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}
