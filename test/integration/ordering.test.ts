/** Per-key order on the real stack: one key's effects apply in offset order, while
 * other keys run concurrently. */
import crypto from 'node:crypto';
import { workflowIdFor } from '../../src/events/identity';
import { allCommitted, ceRecord, createPipeline, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

let p: Pipeline;

beforeAll(async () => {
  p = await createPipeline('ordering');
  await p.start();
}, 120_000);

afterAll(async () => {
  await p?.close();
});

test('effects of one key apply in offset order; keys interleave', async () => {
  const run = crypto.randomUUID().slice(0, 8);
  const keys = ['a', 'b', 'c'].map((k) => `ord-${run}-${k}`);
  const messages = [];
  for (let i = 0; i < 15; i++) {
    for (const key of keys) {
      messages.push(
        ceRecord(
          p.source,
          { id: `${key}-${i}`, type: 'account.credited', data: { account: key, amount: i + 1 } },
          key,
        ),
      );
    }
  }
  await p.producer.send({ topic: p.topic, messages });
  await allCommitted(p);
  await eventually(
    async () => {
      const { rows } = await p.db.pool.query(
        'select count(*)::int as n from processed_events where source = $1',
        [p.source],
      );
      return rows[0].n === 45;
    },
    90_000,
    'all 45 events applied',
  );
  // Keys interleave: some workflow of one key ran while a workflow of another key was
  // open. Were keys taken one event at a time, no two workflows would overlap.
  const spans = await Promise.all(
    keys.flatMap((key) =>
      Array.from({ length: 15 }, async (_, i) => {
        const handle = p.temporal.workflow.getHandle(workflowIdFor(p.source, `${key}-${i}`));
        await handle.result();
        const d = await handle.describe();
        return { key, start: d.startTime.getTime(), close: d.closeTime?.getTime() ?? Infinity };
      }),
    ),
  );
  const overlaps = spans.filter((x) =>
    spans.some((y) => y.key !== x.key && x.start < y.close && y.start < x.close),
  );
  expect(overlaps.length).toBeGreaterThan(0);
  for (const key of keys) {
    const { rows } = await p.db.pool.query<{ kafka_offset: string; id: string }>(
      'select kafka_offset, id from processed_events where event_key = $1 order by processed_at, kafka_offset',
      [key],
    );
    const offsets = rows.map((r) => BigInt(r.kafka_offset));
    expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 15 }, (_, i) => `${key}-${i}`));
  }
}, 180_000);
