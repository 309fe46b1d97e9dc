/**
 * The PostgreSQL pool of a long-running idem process.
 *
 * pg emits 'error' on a client whose connection dies (a server crash, `pg_ctl stop -m
 * immediate`, a failover), and the pool listens for it only while the client is idle: a client
 * checked out (inside a transaction, between two statements) has no listener, and an 'error'
 * event without one kills the process. Every client gets a listener for its whole life; the
 * statement in progress, if any, still rejects with the error, and the pool replaces the client.
 *
 * A database that stops answering without closing anything (a network partition, dropped
 * packets, a frozen server) is bounded too: connecting times out; the server cancels a
 * statement after statement_timeout and a lock wait after lock_timeout; a statement with no
 * answer at all fails on the client a margin after statement_timeout ("Query read timeout", a store
 * outage), and TCP keepalive finds dead idle connections. The client whose statement timed out
 * is destroyed, not reused (transaction.ts).
 */
import { Pool } from 'pg';
import type { Logger } from '../observability/logger';
import { pgConnectionConfig } from './tls';

export interface PoolOptions {
  url: string;
  max: number;
  logger: Logger;
  /** @default 10000 */
  connectTimeoutMs?: number;
  /** @default 20000 */
  statementTimeoutMs?: number;
  /** @default 10000 */
  lockTimeoutMs?: number;
  /** How long the client waits for any answer to a statement. @default statement timeout + 5000 */
  queryTimeoutMs?: number;
  /** PostgreSQL's idle_in_transaction_session_timeout. @default 60000 */
  idleInTransactionTimeoutMs?: number;
}

export function createPool(opts: PoolOptions): Pool {
  const statementTimeout = opts.statementTimeoutMs ?? 20_000;
  const pool = new Pool({
    ...pgConnectionConfig(opts.url),
    max: opts.max,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    statement_timeout: statementTimeout,
    lock_timeout: opts.lockTimeoutMs ?? 10_000,
    query_timeout: opts.queryTimeoutMs ?? statementTimeout + 5_000,
    // a transaction left open by a client that vanished or froze releases its locks
    idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs ?? 60_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  const onError = (err: Error) => opts.logger.warn({ err }, 'PostgreSQL connection failed');
  pool.on('error', onError);
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}
