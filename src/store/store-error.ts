/**
 * Which errors are PostgreSQL's own. A handler's HTTP call failing with ECONNREFUSED looks
 * exactly like a lost database connection (same `code`, same message): only where the error
 * came from tells them apart. Errors raised by the store's connections (connecting, and every
 * statement on a client that {@link tagStoreErrors} wrapped) carry a mark; the classification
 * of a failed attempt as a store outage (src/activities/failure.ts) requires it.
 */
import type { PoolClient } from 'pg';

/** A global symbol: errors cross Jest's module realms. */
const STORE_ERROR = Symbol.for('idem.storeError');
const WRAPPED = Symbol.for('idem.storeErrorsTagged');

/** Marks `err` as raised by the store's connection and returns it. */
export function markStoreError<T>(err: T): T {
  if (typeof err === 'object' && err !== null) {
    try {
      Object.defineProperty(err, STORE_ERROR, { value: true, configurable: true });
    } catch {
      // a frozen error stays unmarked: it then counts as the handler's, which is retried anyway
    }
  }
  return err;
}

export function isStoreError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[STORE_ERROR] === true;
}

/**
 * Every promise-returning `query` on this client (the statements of idem and of the handler
 * running on its transaction) marks its rejection as the store's. Idempotent.
 */
export function tagStoreErrors(client: PoolClient): PoolClient {
  const c = client as PoolClient & { [WRAPPED]?: true };
  if (c[WRAPPED]) return client;
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  Object.defineProperty(c, WRAPPED, { value: true });
  (c as { query: unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    // duck-typed: pg's promise may come from another realm (Jest)
    return typeof (result as Promise<unknown> | undefined)?.then === 'function'
      ? (result as Promise<unknown>).catch((err: unknown) => {
          throw markStoreError(err);
        })
      : result;
  };
  return client;
}
