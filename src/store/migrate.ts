/**
 * Migrations: numbered SQL files (`001_name.sql`) in a directory, applied in
 * order, each in its own transaction, recorded in `idem_migrations` under the
 * name of their set. idem's own tables are the set `idem`; a handler module
 * brings its own set (the ledger example's is `ledger`), so a user's tables and
 * idem's are versioned apart. An advisory lock makes concurrent runners (several
 * workers starting at once) safe.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { MigrationError } from '../errors';
import { PACKAGE_ROOT } from '../package-root';

export interface MigrationSet {
  /** Recorded with each applied migration; two sets may both have a version 1. */
  name: string;
  /** Directory of numbered `.sql` files. */
  dir: string;
}

/** idem's own tables: the dedup record and the outbox. The SQL stays beside the sources. */
export const CORE_MIGRATIONS: MigrationSet = {
  name: 'idem',
  dir: path.join(PACKAGE_ROOT, 'src', 'store', 'migrations'),
};

const LOCK_ID = 0x1de0_0001;
/** The client-side bound of one migration statement (and of the wait for the lock). */
const MIGRATION_TIMEOUT_MS = 3_600_000;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function listMigrations(dir: string): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.split('_')[0]),
      name: file.replace(/\.sql$/, ''),
      sql: fs.readFileSync(path.join(dir, file), 'utf8'),
    }));
}

/** Applies the pending migrations of idem's own set, then of each extra set, in order;
 * returns the names applied (`set/name`). */
export async function migrate(pool: Pool, extraSets: MigrationSet[] = []): Promise<string[]> {
  const client: PoolClient = await pool.connect();
  const applied: string[] = [];
  try {
    // A migration (a handler's, on a big table) and the wait for another runner's lock may take
    // longer than the pool's statement timeouts: none on this session while it migrates.
    await client.query('set statement_timeout = 0; set lock_timeout = 0');
    await client.query({
      text: 'select pg_advisory_lock($1)',
      values: [LOCK_ID],
      query_timeout: MIGRATION_TIMEOUT_MS,
    } as QueryConfig);
    await client.query(`create table if not exists idem_migrations (
      migration_set text not null,
      version integer not null,
      name text not null,
      applied_at timestamptz not null default now(),
      primary key (migration_set, version)
    )`);
    // Databases made before migration sets existed keyed the table by version alone.
    await client.query(
      `alter table idem_migrations add column if not exists migration_set text not null default 'idem'`,
    );
    await client.query(`do $$ begin
      if (select array_length(indkey::int2[], 1) from pg_index
           where indrelid = 'idem_migrations'::regclass and indisprimary) = 1 then
        alter table idem_migrations drop constraint idem_migrations_pkey;
        alter table idem_migrations add primary key (migration_set, version);
      end if;
    end $$`);
    for (const set of [CORE_MIGRATIONS, ...extraSets]) {
      const { rows } = await client.query<{ version: number }>(
        'select version from idem_migrations where migration_set = $1',
        [set.name],
      );
      const done = new Set(rows.map((r) => r.version));
      for (const m of listMigrations(set.dir)) {
        if (done.has(m.version)) continue;
        await client.query('begin');
        try {
          await client.query({ text: m.sql, query_timeout: MIGRATION_TIMEOUT_MS } as QueryConfig);
          await client.query(
            'insert into idem_migrations (migration_set, version, name) values ($1, $2, $3)',
            [set.name, m.version, m.name],
          );
          await client.query('commit');
        } catch (err) {
          await client.query('rollback');
          throw new MigrationError(`migration ${set.name}/${m.name} failed: ${(err as Error).message}`, {
            cause: err,
          });
        }
        applied.push(`${set.name}/${m.name}`);
      }
    }
    return applied;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [LOCK_ID]).catch(() => undefined);
    // a client that kept the session without timeouts is not handed to anyone else
    const reset = await client.query('reset statement_timeout; reset lock_timeout').then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    client.release(reset);
  }
}
