import type { ClientBase, Pool } from 'pg';

/** A client inside the handler's transaction (`ctx.tx`), or a pool for one autocommitted query. */
export type Queryable = ClientBase | Pool;
