import type { ClientConfig, Pool, PoolClient, QueryResult } from 'pg';
import { lastResult } from './sql/literal';
import { answers } from './probe';
import { TransactionRolledBackError } from '../errors';
import { isStoreUnavailable, markStoreError, tagStoreErrors } from './store-error';

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
export interface TransactionOptions {
  /**
   * When the caller gives up (epoch ms; an attempt's timeout less a margin). A connect or a
   * statement still waiting for PostgreSQL then, while a fresh connection cannot get an answer
   * either, fails at once as a store outage ("PostgreSQL did not answer"), its connection
   * destroyed: the sum of several waits, each within its own timeout, must not outlast the
   * attempt, or Temporal times the attempt out as the handler's failure. A server that answers
   * the probe is merely slow: that wait goes on, to the caller's own timeout. While the callback
   * waits on anything else (a handler's HTTP call), the deadline does nothing.
   */
  deadline?: number;
  /** How long the probe at the deadline waits for an answer. @default 1000 */
  probeMs?: number;
  /**
   * `fn`'s first statement opens the transaction itself: it begins with `begin;` (one message,
   * one round trip less; claimEvent's `begin`). `fn` must send nothing before that statement, or
   * what it sent runs outside the transaction. A ROLLBACK or COMMIT sent when no transaction was
   * opened does nothing (PostgreSQL only warns).
   */
  begunByFirstStatement?: boolean;
  /**
   * Statements without parameters that `fn` left to the end (rows it buffered), sent in one
   * message with COMMIT once `fn` has resolved (one round trip less); undefined or '' when none.
   * If one fails, nothing is committed and inTransaction rejects with its error.
   */
  beforeCommit?: () => string | undefined;
}

export async function inTransaction<T>(
  pool: Pool,
  fn: (tx: PoolClient) => Promise<T | Rollback<T>>,
  opts: TransactionOptions = {},
): Promise<T> {
  const client = tagStoreErrors(await connectBy(pool, opts));
  const watchdog = opts.deadline === undefined ? undefined : watchStatements(pool, client, opts);
  let broken: Error | undefined;
  try {
    if (!opts.begunByFirstStatement) await client.query('begin');
    const result = await fn(client);
    if (result instanceof Rollback) {
      await client.query('rollback');
      return result.value;
    }
    const before = opts.beforeCommit?.();
    let commit: QueryResult;
    try {
      commit = lastResult(await client.query(before ? `${before};\ncommit` : 'commit'));
    } catch (err) {
      // The statements sent with COMMIT met a transaction that a caught error had aborted. The
      // message stopped there, before its COMMIT: the transaction is still open.
      if (before && (err as { code?: unknown }).code === IN_FAILED_TRANSACTION) {
        await client.query('rollback');
        throw rolledBack();
      }
      throw err;
    }
    if (commit.command !== 'COMMIT') throw rolledBack();
    return result;
  } catch (err) {
    if (isStoreUnavailable(err)) {
      // The connection is lost or does not answer: a ROLLBACK would wait as long again. Destroyed,
      // the connection takes its transaction with it (the server rolls back when it goes).
      broken = err as Error;
    } else if (!(err instanceof TransactionRolledBackError)) {
      await client.query('rollback').catch((rollbackErr: unknown) => {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      });
    }
    throw err;
  } finally {
    watchdog?.stop();
    client.release(broken);
  }
}

/** SQLSTATE 25P02: a statement sent in a transaction that an earlier error aborted. */
const IN_FAILED_TRANSACTION = '25P02';

function rolledBack(): TransactionRolledBackError {
  return new TransactionRolledBackError(
    'the transaction was rolled back at commit: a statement failed inside it and its error was ' +
      'caught (use a savepoint to recover from SQL errors); nothing was written',
  );
}

function noAnswer(what: string): Error {
  return markStoreError(
    Object.assign(new Error(`PostgreSQL did not answer ${what} before the attempt's deadline`), {
      code: 'ETIMEDOUT',
    }),
  );
}

/** Whether PostgreSQL answers a fresh connection (not the pool's) within `ms`. */
function poolAnswers(pool: Pool, ms: number): Promise<boolean> {
  return answers((pool as unknown as { options: ClientConfig }).options, ms);
}

/** pool.connect(), failing as the store's if `deadline` passes while PostgreSQL does not answer
 * (the late client goes back to the pool). */
async function connectBy(pool: Pool, { deadline, probeMs = 1_000 }: TransactionOptions): Promise<PoolClient> {
  const connecting = pool.connect().catch((err: unknown) => {
    throw markStoreError(err);
  });
  if (deadline === undefined) return connecting;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        void poolAnswers(pool, probeMs).then((ok) => ok || reject(noAnswer('a connection request')));
      },
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([connecting, late]);
  } catch (err) {
    connecting.then(
      (c) => c.release(),
      () => undefined,
    );
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Counts the client's statements in flight; at `deadline`, if one still waits for PostgreSQL and a
 * fresh connection gets no answer either, the connection is destroyed, which fails the statement
 * ("Connection terminated unexpectedly", a store error).
 */
function watchStatements(
  pool: Pool,
  client: PoolClient,
  { deadline = Date.now(), probeMs = 1_000 }: TransactionOptions,
): { stop(): void } {
  let inFlight = 0;
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    if (typeof (result as Promise<unknown> | undefined)?.then !== 'function') return result;
    inFlight++;
    return (result as Promise<unknown>).finally(() => inFlight--);
  };
  const timer = setTimeout(
    () => {
      if (inFlight === 0) return;
      void poolAnswers(pool, probeMs).then((ok) => {
        if (ok || inFlight === 0) return;
        const stream = (client as unknown as { connection?: { stream?: { destroy(err?: Error): void } } })
          .connection?.stream;
        stream?.destroy();
      });
    },
    Math.max(0, deadline - Date.now()),
  );
  return {
    stop() {
      clearTimeout(timer);
      (client as { query: unknown }).query = query;
    },
  };
}
