/** A fresh, migrated PostgreSQL database per test file, on the stack's server. */
import crypto from 'node:crypto';
import { Client, Pool } from 'pg';
import { loadConfig } from '../../src/config';
import { migrate } from '../../src/store/migrate';

export interface TestDatabase {
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const base = loadConfig().database.url;
  const name = `idem_t_${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: withDatabase(base, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(base, name);
  const pool = new Pool({ connectionString: url, max: 10 });
  await migrate(pool);
  return {
    url,
    pool,
    async drop() {
      await pool.end();
      const c = new Client({ connectionString: withDatabase(base, 'postgres') });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
