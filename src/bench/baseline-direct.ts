/**
 * baseline-direct: the consumer a user would otherwise write by hand: kafkajs, one
 * `INSERT … ON CONFLICT DO NOTHING` per record (its own transaction), offsets committed
 * after each batch. It runs against a database it creates and drops.
 */
import type { KafkaMessage } from 'kafkajs';
import { createTestDatabase } from '../testing';
import { runKafkaScenario, type KafkaScenarioOptions } from './kafka-scenario';
import type { ScenarioResult } from './types';

const INSERT = 'INSERT INTO bench_direct(id) VALUES ($1) ON CONFLICT DO NOTHING';

export async function runDirectBaseline(opts: KafkaScenarioOptions): Promise<ScenarioResult> {
  const db = await createTestDatabase({ baseUrl: opts.config.database.url, prefix: 'bench_direct' });
  try {
    await db.pool.query('CREATE TABLE bench_direct (id text PRIMARY KEY)');
    const result = await runKafkaScenario(opts, {
      name: `baseline-direct${opts.rate !== undefined && opts.rate !== 'max' ? ` ${opts.rate}/s` : ''}`,
      kind: 'baseline-direct',
      commitEachBatch: true,
      handle: async (messages: KafkaMessage[], heartbeat) => {
        const done: number[] = [];
        for (const [j, m] of messages.entries()) {
          const { id } = JSON.parse(m.value?.toString() ?? '{}') as { id: string };
          await db.pool.query(INSERT, [id]);
          done.push(Date.now());
          if (j % 100 === 99) await heartbeat();
        }
        return done;
      },
    });
    // The effect is checked, not assumed: every record left exactly one row.
    const rows = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM bench_direct');
    return { ...result, extra: { ...result.extra, rows: Number(rows.rows[0]?.n ?? 0) } };
  } finally {
    await db.drop();
  }
}
