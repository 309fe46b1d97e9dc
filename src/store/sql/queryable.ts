import type { ClientBase, Pool } from 'pg';

/**
 * What the statements in this folder run on: a client inside a transaction (a
 * `PoolClient` after `begin`), or a pool for a single autocommitted statement.
 */
export type Queryable = ClientBase | Pool;
