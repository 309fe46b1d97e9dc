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

/** SQLSTATE classes and codes, and socket errors, that mean "the database is not reachable". */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const UNAVAILABLE_MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  // pg's client-side query_timeout: no answer at all (packets dropped, server frozen)
  /Query read timeout/i,
  // inTransaction's deadline: still waiting for PostgreSQL when the attempt runs out
  /PostgreSQL did not answer/i,
];

/**
 * True when `err` says PostgreSQL is down or unreachable, rather than anything about the event:
 * a connection failure raised by the store's own connection (store-error.ts). The same failure
 * from a handler's call to another service (its HTTP client's ECONNREFUSED) is the handler's.
 */
export function isStoreUnavailable(err: unknown): boolean {
  return isStoreError(err) && looksUnavailable(err);
}

function looksUnavailable(err: unknown): boolean {
  if (!isErrorLike(err)) return false;
  const code = (err as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code))
  ) {
    return true;
  }
  const inner = (err as { errors?: unknown }).errors;
  if (Array.isArray(inner) && inner.some(looksUnavailable)) return true;
  return UNAVAILABLE_MESSAGES.some((re) => re.test(err.message));
}

/** An Error, also one from another realm (`instanceof Error` fails for errors made by Node's
 * own modules inside a sandbox such as Jest's). */
export function isErrorLike(err: unknown): err is Error {
  return (
    err instanceof Error ||
    (typeof err === 'object' &&
      err !== null &&
      typeof (err as Error).message === 'string' &&
      typeof (err as Error).name === 'string')
  );
}
