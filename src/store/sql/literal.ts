import { escapeLiteral } from 'pg';

/**
 * A value written into SQL text as a literal, for statements sent without parameters: those can
 * share one message (one round trip) with BEGIN or COMMIT, which a parameterised statement
 * cannot. Strings go through node-postgres' escapeLiteral (quotes doubled, and an `E'…'` literal
 * when there is a backslash), so the value never leaves its quotes. A NUL character is refused:
 * PostgreSQL's text cannot hold it, and the simple query protocol would end the statement there.
 */
export function sqlLiteral(value: string | number | null): string {
  if (value === null) return 'null';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`not an integer for SQL: ${value}`);
    return String(value);
  }
  if (value.includes('\0')) throw new TypeError('a NUL character cannot be stored in PostgreSQL text');
  return escapeLiteral(value);
}

/** The last statement's result of a query string that held several statements (node-postgres
 * answers those with an array of results), or the one result. */
export function lastResult<R>(result: R | R[]): R {
  if (!Array.isArray(result)) return result;
  const last = result[result.length - 1];
  if (last === undefined) throw new Error('PostgreSQL returned no result');
  return last;
}
