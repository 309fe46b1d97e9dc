/**
 * Key parking on the real stack (issue 8): a dead-lettered event holds its key's later events,
 * parked in PostgreSQL (a restart keeps them parked) while their offsets are committed; a
 * redrive releases them in order after it; a skip releases them without it; other keys never
 * wait.
 */
import crypto from 'node:crypto';
import { HandlerRegistry } from '../../src/activities/handlers/registry';
import { readDlq, type DlqEntry } from '../../src/dlq/reader';
import { redrive } from '../../src/dlq/redrive';
import { skip } from '../../src/dlq/skip';
import { PermanentHandlerError } from '../../src/errors';
import { listParkedKeys } from '../../src/store/sql/key-parking';
import { ceRecord, createPipeline, metricValue, uncommitted, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const TYPE = 'order.append';

/** Appends the event to its key's list, unless it is marked to fail (then fails permanently). */
function orderRegistry(): HandlerRegistry {
  return new HandlerRegistry().register(TYPE, async (ctx) => {
    const fail = await ctx.tx.query('select 1 from order_fail where event_id = $1', [ctx.event.id]);
    if (fail.rows.length > 0) throw new PermanentHandlerError(`${ctx.event.id} is refused`);
    await ctx.tx.query('insert into order_log (key, event_id) values ($1, $2)', [
      ctx.event.key ?? '',
      ctx.event.id,
    ]);
  });
}

let p: Pipeline;
const registry = orderRegistry();

beforeAll(async () => {
  p = await createPipeline('key-parking');
  await p.db.pool.query(`
    create table order_log (seq bigserial primary key, key text not null, event_id text not null);
    create table order_fail (event_id text primary key);`);
}, 120_000);

afterAll(async () => {
  await p?.close();
});

const ev = (id: string, key: string) => ceRecord(p.source, { id, type: TYPE, data: {} }, key, 0);

async function listOf(key: string): Promise<string[]> {
  const { rows } = await p.db.pool.query<{ event_id: string }>(
    'select event_id from order_log where key = $1 order by seq',
    [key],
  );
  return rows.map((r) => r.event_id);
}

async function parkedOf(key: string) {
  return (await listParkedKeys(p.db.pool)).find((k) => k.topic === p.topic && k.key === key);
}

async function dlqEntryOf(id: string): Promise<DlqEntry[]> {
  return eventually(
    async () => {
      const e = await readDlq(p.kafka, p.dlqTopic, { id });
      return e.length === 1 ? e : undefined;
    },
    60_000,
    `the dead-letter record of ${id}`,
  );
}

/** Sends key-0 (refused), key-1, key-2 and events of another key; waits until key-0 holds two. */
async function parkTwoBehindOne(key: string, other: string) {
  await p.db.pool.query('insert into order_fail (event_id) values ($1)', [`${key}-0`]);
  await p.producer.send({
    topic: p.topic,
    messages: [
      ev(`${key}-0`, key),
      ev(`${other}-0`, other),
      ev(`${key}-1`, key),
      ev(`${other}-1`, other),
      ev(`${key}-2`, key),
      ev(`${other}-2`, other),
    ],
  });
  await eventually(async () => (await parkedOf(key))?.waiting === 2, 90_000, `two events of ${key} parked`);
  // The other key never waited, and the parked events' offsets are committed.
  await eventually(async () => (await listOf(other)).length === 3, 60_000, `${other} applied`);
  await eventually(async () => (await uncommitted(p)) === 0n, 30_000, 'every offset committed');
  expect(await listOf(key)).toEqual([]);
}

test('a dead-lettered event parks its key across a restart; redrive releases the parked events in order', async () => {
  const key = `redrive-${crypto.randomUUID().slice(0, 8)}`;
  const a = await p.start(undefined, registry);
  await parkTwoBehindOne(key, `${key}-other`);
  expect(await parkedOf(key)).toMatchObject({ blockedBy: expect.stringContaining(`${key}-0`), waiting: 2 });
  await eventually(async () => (await metricValue(a, 'idem_parked_events')) >= 2, 10_000, 'the parked gauge');
  await a.stop();

  // A restart keeps the key parked: a later event of it is parked too, read from the store.
  const b = await p.start(undefined, registry);
  await p.producer.send({ topic: p.topic, messages: [ev(`${key}-3`, key)] });
  await eventually(
    async () => (await parkedOf(key))?.waiting === 3,
    60_000,
    `${key}-3 parked after the restart`,
  );
  expect(await listOf(key)).toEqual([]);

  // Fixed and redriven: the dead-lettered event applies, then its key's parked events, in order.
  await p.db.pool.query('delete from order_fail where event_id = $1', [`${key}-0`]);
  const redriven = await redrive(p.temporal, p.config, await dlqEntryOf(`${key}-0`), { wait: true });
  expect(redriven.map((i) => i.status)).toEqual(['applied']);
  await eventually(async () => (await listOf(key)).length === 4, 60_000, `all of ${key} applied`);
  expect(await listOf(key)).toEqual([`${key}-0`, `${key}-1`, `${key}-2`, `${key}-3`]);
  await eventually(async () => (await parkedOf(key)) === undefined, 30_000, `${key} unparked`);

  // Released: the key's next event goes straight through.
  await p.producer.send({ topic: p.topic, messages: [ev(`${key}-4`, key)] });
  await eventually(async () => (await listOf(key)).length === 5, 60_000, `${key}-4 applied`);
  expect(await metricValue(b, 'idem_events_released_total', `topic="${p.topic}"`)).toBe(3);
  await b.stop();
}, 300_000);

test('skip releases the parked events without the dead-lettered one; a released event that fails parks the key again', async () => {
  const key = `skip-${crypto.randomUUID().slice(0, 8)}`;
  const a = await p.start(undefined, registry);
  await parkTwoBehindOne(key, `${key}-other`);
  // key-1 will fail in its turn once released: the key parks again, behind it.
  await p.db.pool.query('insert into order_fail (event_id) values ($1)', [`${key}-1`]);

  const skipped = await skip(p.db.pool, await dlqEntryOf(`${key}-0`));
  expect(skipped.map((i) => i.status)).toEqual(['skipped']);
  await eventually(
    async () => (await parkedOf(key))?.blockedBy.endsWith(`${key}-1`) === true,
    60_000,
    `${key} parked behind ${key}-1`,
  );
  expect(await parkedOf(key)).toMatchObject({ waiting: 1 });
  expect(await listOf(key)).toEqual([]);

  expect((await skip(p.db.pool, await dlqEntryOf(`${key}-1`))).map((i) => i.status)).toEqual(['skipped']);
  await eventually(async () => (await listOf(key)).length === 1, 60_000, `${key}-2 applied`);
  expect(await listOf(key)).toEqual([`${key}-2`]);
  await eventually(async () => (await parkedOf(key)) === undefined, 30_000, `${key} unparked`);
  // The skipped events stay dead-lettered (and redrivable).
  const { rows } = await p.db.pool.query<{ status: string }>(
    'select status from processed_events where id = any($1::text[]) order by id',
    [[`${key}-0`, `${key}-1`]],
  );
  expect(rows.map((r) => r.status)).toEqual(['dead_lettered', 'dead_lettered']);
  await a.stop();
}, 300_000);
