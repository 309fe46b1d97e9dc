/** Whether a PostgreSQL server answers: a fresh connection (not a pool's) and `select 1`. */
import { Client, type ClientConfig } from 'pg';

export async function answers(config: ClientConfig, ms: number): Promise<boolean> {
  return probe(config, ms).then(
    () => true,
    () => false,
  );
}

/** As `answers`, but a server that does not answer rejects with the reason (refused, timed out,
 * an authentication or SSL error), for a start-up wait to name when it gives up. */
export async function probe(config: ClientConfig, ms: number): Promise<void> {
  const client = new Client({ ...config, connectionTimeoutMillis: ms, query_timeout: ms });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    void client.end().catch(() => undefined);
  }
}
