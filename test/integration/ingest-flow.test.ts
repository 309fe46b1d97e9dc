/**
 * The ingester's order and flow control on the real stack (issue 8):
 * - per-key order holds across a restart and a rebalance while an earlier event of the key
 *   is still open (its handler refuses until a gate opens), with a handler whose result
 *   depends on order (each event of a key appends to a list);
 * - one partition whose window is full (its first event stuck) pauses alone: the other
 *   partitions of the same broker keep flowing, and a rebalance completes;
 * - with no worker running, the ingester starts at most IDEM_MAX_UNSETTLED workflows and
 *   reads each partition only up to its window, and everything settles once a worker comes.
 */
import crypto from 'node:crypto';
import type { IdemProcess } from '../../src/app';
import { HandlerRegistry } from '../../src/activities/handlers/registry';
import { groupMembers } from '../support/kafka';
import { ceRecord, createPipeline, metricValue, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const TYPE = 'order.append';

/** Appends the event to its key's list, unless the event is gated (then fails, retryably). */
function orderRegistry(): HandlerRegistry {
  return new HandlerRegistry().register(TYPE, async (ctx) => {
    const gated = await ctx.tx.query('select 1 from order_gate where event_id = $1', [ctx.event.id]);
    if (gated.rows.length > 0) throw new Error(`gate closed for ${ctx.event.id}`);
    await ctx.tx.query('insert into order_log (key, event_id) values ($1, $2)', [
      ctx.event.key ?? '',
      ctx.event.id,
    ]);
  });
}

async function orderTables(p: Pipeline): Promise<void> {
  await p.db.pool.query(`
    create table order_log (seq bigserial primary key, key text not null, event_id text not null);
    create table order_gate (event_id text primary key);`);
}

const ev = (p: Pipeline, id: string, key: string, partition: number) =>
  ceRecord(p.source, { id, type: TYPE, data: {} }, key, partition);

async function listOf(p: Pipeline, key: string): Promise<string[]> {
  const { rows } = await p.db.pool.query<{ event_id: string }>(
    'select event_id from order_log where key = $1 order by seq',
    [key],
  );
  return rows.map((r) => r.event_id);
}

async function logged(p: Pipeline, ids: string[]): Promise<number> {
  const { rows } = await p.db.pool.query<{ n: number }>(
    'select count(*)::int as n from order_log where event_id = any($1::text[])',
    [ids],
  );
  return rows[0]?.n ?? 0;
}

/** The group's committed offset of one partition (-1 when none). */
async function committedOffset(p: Pipeline, partition: number): Promise<bigint> {
  const admin = p.kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: p.config.kafka.groupId, topics: [p.topic] });
    const o = t?.partitions.find((x) => x.partition === partition)?.offset ?? '-1';
    return BigInt(o);
  } finally {
    await admin.disconnect();
  }
}

/** The group is stable with two members, each owning partitions. */
async function rebalancedToTwo(p: Pipeline): Promise<boolean> {
  const g = await groupMembers(p.kafka, p.config.kafka.groupId, p.topic);
  return g.state === 'Stable' && g.members.length === 2 && g.members.every((m) => m.partitions.length > 0);
}

/** Whether `check` holds every time it is asked during `ms` (a property that must not change). */
async function holdsFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  do {
    if (!(await check())) return false;
    await new Promise((r) => setTimeout(r, 200));
  } while (Date.now() < until);
  return true;
}

/**
 * Sends, on partition 0: the gated first event of `key`, fillers of other keys, two more
 * events of `key`, more fillers. Returns the ids and the gated event's offset.
 */
async function sendKeyBehindGate(p: Pipeline, key: string) {
  const first = `${key}-0`;
  await p.db.pool.query('insert into order_gate (event_id) values ($1)', [first]);
  const fillers = Array.from({ length: 10 }, (_, i) => `${key}-filler-${i}`);
  const messages = [
    ev(p, first, key, 0),
    ...fillers.slice(0, 5).map((id) => ev(p, id, id, 0)),
    ev(p, `${key}-1`, key, 0),
    ev(p, `${key}-2`, key, 0),
    ...fillers.slice(5).map((id) => ev(p, id, id, 0)),
  ];
  const [meta] = await p.producer.send({ topic: p.topic, messages });
  return { first, fillers, records: messages.length, firstOffset: BigInt(meta?.baseOffset ?? '0') };
}

const registry = orderRegistry();

/** A pipeline with the order tables, for the tests of one describe block. */
function orderPipeline(name: string, env: Record<string, string>): { p: Pipeline } {
  const ctx = {} as { p: Pipeline };
  beforeAll(async () => {
    ctx.p = await createPipeline(name, env);
    await orderTables(ctx.p);
  }, 120_000);
  afterAll(async () => {
    await ctx.p?.close();
  });
  return ctx;
}

/**
 * Starts a consumer, sends a key's events behind its gated first one, and waits until the
 * partition flowed past it (every filler applied) while nothing at or after the open event is
 * committed: its offset completes only once it is settled (offsets are committed every 250 ms;
 * watched for two seconds).
 */
async function openKeyBehindGate(p: Pipeline, key: string) {
  const a = await p.start(undefined, registry);
  const sent = await sendKeyBehindGate(p, key);
  await eventually(
    async () => (await logged(p, sent.fillers)) === sent.fillers.length,
    90_000,
    'the fillers applied',
  );
  expect(await holdsFor(async () => (await committedOffset(p, 0)) <= sent.firstOffset, 2_000)).toBe(true);
  expect(await listOf(p, key)).toEqual([]);
  return { a, sent };
}

/** Opens the gate: the key's three events apply, in offset order. */
async function openGateExpectingOrder(p: Pipeline, key: string, first: string): Promise<void> {
  await p.db.pool.query('delete from order_gate where event_id = $1', [first]);
  await eventually(async () => (await listOf(p, key)).length === 3, 90_000, `all of ${key} applied`);
  expect(await listOf(p, key)).toEqual([`${key}-0`, `${key}-1`, `${key}-2`]);
}

describe('per-key order across a restart and a rebalance', () => {
  const ctx = orderPipeline('ingest-order', { IDEM_MAX_ATTEMPTS: '100000' });

  test('a restart redelivers a key event behind an open one, which still waits for it', async () => {
    const { p } = ctx;
    const key = `restart-${crypto.randomUUID().slice(0, 8)}`;
    const { a, sent } = await openKeyBehindGate(p, key);

    await a.stop();
    const b = await p.start(undefined, registry);
    // The new process reads from the committed offset: the open event again (a duplicate of
    // its running workflow), then the key's later events, which must wait for it.
    await eventually(
      async () => (await metricValue(b, 'idem_events_received_total', `topic="${p.topic}"`)) >= sent.records,
      90_000,
      'the restarted consumer to read the redelivered records',
    );
    await eventually(
      async () => (await metricValue(b, 'idem_duplicates_total', 'layer="temporal"')) >= 1,
      30_000,
      'the open event to come back as a duplicate of its running workflow',
    );
    expect(await listOf(p, key)).toEqual([]);

    await openGateExpectingOrder(p, key, sent.first);
    await b.stop();
  }, 300_000);

  test('a rebalance keeps a key event behind an open one', async () => {
    const { p } = ctx;
    const key = `rebalance-${crypto.randomUUID().slice(0, 8)}`;
    const { a, sent } = await openKeyBehindGate(p, key);

    // A second member joins: the group rebalances and every partition is read again from its
    // committed offset, by whichever member now owns it.
    const b = await p.start(undefined, registry);
    await eventually(() => rebalancedToTwo(p), 90_000, 'the group to rebalance to two members');
    // Every record is read again from the committed offset by the partition's new owner (or by
    // the same member in its new generation), the open event first; the key's later events must
    // wait for it again (watch for two seconds).
    const received = async (proc: IdemProcess) =>
      metricValue(proc, 'idem_events_received_total', `topic="${p.topic}"`);
    await eventually(
      async () => (await received(a)) + (await received(b)) >= 2 * sent.records,
      60_000,
      'the records to be read again after the rebalance',
    );
    expect(await holdsFor(async () => (await listOf(p, key)).length === 0, 2_000)).toBe(true);

    await openGateExpectingOrder(p, key, sent.first);
    await b.stop();
    await a.stop();
  }, 300_000);
});

describe('flow control', () => {
  const ctx = orderPipeline('ingest-flow', {
    IDEM_MAX_ATTEMPTS: '100000',
    IDEM_MAX_IN_FLIGHT: '5',
    IDEM_MAX_WINDOW: '40',
  });

  test('a partition with a full window pauses alone; the others flow; a rebalance completes', async () => {
    const { p } = ctx;
    const run = crypto.randomUUID().slice(0, 8);
    const stuck = `stuck-${run}`;
    await p.db.pool.query('insert into order_gate (event_id) values ($1)', [`${stuck}-0`]);
    const a = await p.start(undefined, registry);
    // Partition 0: an open event, then more records behind it than its window holds
    // (IDEM_MAX_WINDOW: records handed off behind an open one count toward that bound only).
    await p.producer.send({
      topic: p.topic,
      messages: [
        ev(p, `${stuck}-0`, stuck, 0),
        ...Array.from({ length: 50 }, (_, i) => ev(p, `${stuck}-f${i}`, `${stuck}-f${i}`, 0)),
      ],
    });
    // It pauses each time IDEM_MAX_IN_FLIGHT records wait to be handed off and resumes once they
    // are, until the records behind the open event fill more than three quarters of the window
    // (40): from then on it cannot resume while that event stays open. (The gauge alone could catch
    // one of the short pauses before, and a later look would find the partition flowing.)
    const window = () => metricValue(a, 'idem_ingest_in_flight', `topic="${p.topic}",partition="0"`);
    await eventually(
      async () =>
        (await metricValue(a, 'idem_ingest_paused_partitions')) === 1 && (await window()) > (40 * 3) / 4,
      90_000,
      'partition 0 to be paused with a full window',
    );

    // Partitions 1 and 2 keep flowing while partition 0 is paused.
    const others = Array.from({ length: 30 }, (_, i) => `flow-${run}-${i}`);
    await p.producer.send({
      topic: p.topic,
      messages: others.map((id, i) => ev(p, id, id, 1 + (i % 2))),
    });
    await eventually(
      async () => (await logged(p, others)) === others.length,
      60_000,
      'the other partitions to flow',
    );
    expect(await listOf(p, stuck)).toEqual([]);
    expect(await metricValue(a, 'idem_ingest_paused_partitions')).toBe(1);

    // A member joins while partition 0's window is full: the rebalance completes within the
    // session timeout (30 s), since no batch handler waits for room.
    const joinedAt = Date.now();
    const b = await p.start(undefined, registry);
    await eventually(
      () => rebalancedToTwo(p),
      30_000,
      'the rebalance to complete within the session timeout',
      100,
    );
    expect(Date.now() - joinedAt).toBeLessThan(30_000);

    const more = Array.from({ length: 10 }, (_, i) => `flow2-${run}-${i}`);
    await p.producer.send({ topic: p.topic, messages: more.map((id, i) => ev(p, id, id, 1 + (i % 2))) });
    await eventually(async () => (await logged(p, more)) === more.length, 60_000, 'flow after the rebalance');

    await p.db.pool.query('delete from order_gate where event_id = $1', [`${stuck}-0`]);
    const behind = Array.from({ length: 20 }, (_, i) => `${stuck}-f${i}`);
    await eventually(
      async () => (await logged(p, [`${stuck}-0`, ...behind])) === 21,
      90_000,
      'partition 0 to drain once its first event applies',
    );
    await b.stop();
    await a.stop();
  }, 300_000);
});

describe('bounded work while workers are away', () => {
  const ctx = orderPipeline('ingest-bound', { IDEM_MAX_UNSETTLED: '10', IDEM_MAX_IN_FLIGHT: '50' });

  test('without a worker: IDEM_MAX_UNSETTLED workflows started, reading stops at the windows; all settle after', async () => {
    const { p } = ctx;
    const run = crypto.randomUUID().slice(0, 8);
    const ids = Array.from({ length: 600 }, (_, i) => `bound-${run}-${i}`);
    const ingester = await p.start(['ingester'], registry);
    await p.producer.send({ topic: p.topic, messages: ids.map((id, i) => ev(p, id, `k${i}`, i % 3)) });
    await eventually(
      async () => (await metricValue(ingester, 'idem_ingest_unsettled')) === 10,
      60_000,
      'the ingester to reach its bound of unsettled events',
    );
    // The gauge counts a slot from before its start call: the tenth start may still be on its way.
    const started = () => metricValue(ingester, 'idem_workflows_started_total', `topic="${p.topic}"`);
    await eventually(async () => (await started()) === 10, 30_000, 'ten workflows started');
    // What the process holds stays bounded: it reads each partition up to its window (50
    // records), pauses it, and reads no more of the 600 records; no more starts either.
    const received = () => metricValue(ingester, 'idem_events_received_total', `topic="${p.topic}"`);
    await eventually(
      async () => (await metricValue(ingester, 'idem_ingest_paused_partitions')) === 3,
      60_000,
      'every partition paused at its window',
    );
    expect(await received()).toBe(150);
    expect(await holdsFor(async () => (await received()) === 150 && (await started()) === 10, 2_000)).toBe(
      true,
    );

    const worker = await p.start(['worker'], registry);
    await eventually(async () => (await logged(p, ids)) === ids.length, 180_000, 'every event applied');
    expect(await started()).toBe(600);
    await worker.stop();
    await ingester.stop();
  }, 300_000);
});
