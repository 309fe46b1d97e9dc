/** Whether a PostgreSQL server answers: a fresh connection (not a pool's) and `select 1`. */
import { Client, type ClientConfig } from 'pg';

export async function answers(config: ClientConfig, ms: number): Promise<boolean> {
  const probe = new Client({ ...config, connectionTimeoutMillis: ms, query_timeout: ms });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    void probe.end().catch(() => undefined);
  }
}
