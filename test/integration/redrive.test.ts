/**
 * Handler failures on the real stack: a transient failure is retried and applies
 * once; a permanent one dead-letters, and after the handler is fixed, `dlq redrive`
 * applies it once, also when redriven twice.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { addToBalance, insertLedgerEntry } from '../../examples/ledger';
import { PermanentHandlerError } from '../../src/errors';
import { readDlq } from '../../src/dlq/reader';
import { redrive } from '../../src/dlq/redrive';
import { workflowIdFor } from '../../src/events/identity';
import {
  allCommitted,
  ceRecord,
  createPipeline,
  ledger,
  ledgerRegistry,
  type Pipeline,
} from '../support/pipeline';
import { eventually } from '../support/poll';

let p: Pipeline;
const attemptsByEvent = new Map<string, number>();
let pickyBroken = true;
let prunedBroken = true;
/** A port nothing listens on: a handler's call to "another service" there is refused. */
let closedPort = 0;

beforeAll(async () => {
  p = await createPipeline('redrive');
  const registry = ledgerRegistry();
  // Fails twice with an ordinary (transient) error, then credits.
  registry.register<{ account: string; amount: number }>('test.flaky', async (ctx, data) => {
    const n = (attemptsByEvent.get(ctx.dedupKey) ?? 0) + 1;
    attemptsByEvent.set(ctx.dedupKey, n);
    await insertLedgerEntry(ctx.tx, { dedupKey: ctx.dedupKey, account: data.account, amount: data.amount });
    await addToBalance(ctx.tx, data.account, data.amount);
    if (n < 3) throw new Error(`flaky failure ${n}`);
  });
  // Refuses permanently until "fixed".
  registry.register<{ account: string; amount: number }>('test.picky', async (ctx, data) => {
    if (pickyBroken) throw new PermanentHandlerError('picky refuses this event');
    await insertLedgerEntry(ctx.tx, { dedupKey: ctx.dedupKey, account: data.account, amount: data.amount });
    await addToBalance(ctx.tx, data.account, data.amount);
  });
  registry.register<{ account: string; amount: number }>('test.pruned', async (ctx, data) => {
    if (prunedBroken) throw new PermanentHandlerError('refused until fixed');
    await insertLedgerEntry(ctx.tx, { dedupKey: ctx.dedupKey, account: data.account, amount: data.amount });
    await addToBalance(ctx.tx, data.account, data.amount);
  });
  // Calls another service that refuses the connection: the same ECONNREFUSED a lost database
  // connection gives, but the handler's failure, not a store outage.
  registry.register<{ account: string; amount: number }>('test.remote', async (ctx, data) => {
    await insertLedgerEntry(ctx.tx, { dedupKey: ctx.dedupKey, account: data.account, amount: data.amount });
    await new Promise((_resolve, reject) => net.connect(closedPort, '127.0.0.1').on('error', reject));
  });
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  closedPort = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  await p.start(['ingester', 'worker'], registry);
}, 120_000);

afterAll(async () => {
  await p?.close();
});

/** The dead-letter records of event `id` of `type`, once there is exactly one. */
async function oneDlqRecord(type: string, id: string) {
  const e = (await readDlq(p.kafka, p.dlqTopic, { type })).filter((x) => x.info.cloudEventId === id);
  return e.length === 1 && e;
}

test('a transient handler failure is retried and applies once (its failed attempts rolled back)', async () => {
  const acct = `flaky-${crypto.randomUUID()}`;
  const id = crypto.randomUUID();
  await p.producer.send({
    topic: p.topic,
    messages: [ceRecord(p.source, { id, type: 'test.flaky', data: { account: acct, amount: 42 } }, acct)],
  });
  await allCommitted(p);
  await eventually(async () => (await ledger(p, acct)).entries === 1, 60_000, 'flaky event applied');
  expect(await ledger(p, acct)).toEqual({ balances: { [acct]: 42 }, entries: 1 });
  // Two failed attempts, then the one that applied.
  expect(attemptsByEvent.get(workflowIdFor(p.source, id))).toBe(3);
}, 120_000);

test('a permanent failure dead-letters; redrive after the fix applies once, also when redriven twice', async () => {
  const acct = `picky-${crypto.randomUUID()}`;
  const id = crypto.randomUUID();
  await p.producer.send({
    topic: p.topic,
    messages: [ceRecord(p.source, { id, type: 'test.picky', data: { account: acct, amount: 500 } }, acct)],
  });
  await allCommitted(p);
  const entries = await eventually(
    async () => {
      const e = await readDlq(p.kafka, p.dlqTopic, { type: 'test.picky' });
      return e.filter((x) => x.info.cloudEventId === id).length === 1
        ? e.filter((x) => x.info.cloudEventId === id)
        : undefined;
    },
    60_000,
    'dead-letter record',
  );
  expect(entries[0]?.info).toMatchObject({ reason: 'handler_failed', attempts: 1 });
  expect(await ledger(p, acct)).toEqual({ balances: {}, entries: 0 });

  // A dry run starts nothing.
  expect((await redrive(p.temporal, p.config, entries, { dryRun: true })).map((i) => i.status)).toEqual([
    'would_start',
  ]);
  expect(await ledger(p, acct)).toEqual({ balances: {}, entries: 0 });

  pickyBroken = false;
  const first = await redrive(p.temporal, p.config, entries, { wait: true });
  expect(first.map((i) => i.status)).toEqual(['applied']);
  expect(await ledger(p, acct)).toEqual({ balances: { [acct]: 500 }, entries: 1 });

  const second = await redrive(p.temporal, p.config, entries, { wait: true });
  expect(second.map((i) => i.status)).toEqual(['already_redriven']);
  expect(await ledger(p, acct)).toEqual({ balances: { [acct]: 500 }, entries: 1 });

  const row = await p.db.pool.query('select status, redrive_count from processed_events where id = $1', [id]);
  // Applied by the first redrive; the second was refused before it could count.
  expect(row.rows).toEqual([{ status: 'applied', redrive_count: 1 }]);
}, 180_000);

test("a handler's own connection refused is its failure: retried, then dead-lettered, never taken for a store outage", async () => {
  const acct = `remote-${crypto.randomUUID()}`;
  const id = crypto.randomUUID();
  await p.producer.send({
    topic: p.topic,
    messages: [ceRecord(p.source, { id, type: 'test.remote', data: { account: acct, amount: 1 } }, acct)],
  });
  // Before the fix the workflow looped as store_unavailable forever and nothing reached the DLQ.
  const [entry] = await eventually(
    () => oneDlqRecord('test.remote', id),
    90_000,
    'dead-letter record of the refused call',
  );
  expect(entry?.info).toMatchObject({ reason: 'handler_failed', attempts: p.config.retry.maxAttempts });
  expect(entry?.info.error).toMatch(/ECONNREFUSED/);
  expect(await ledger(p, acct)).toEqual({ balances: {}, entries: 0 });
}, 180_000);

test('a redrive of an event whose store row was pruned applies nothing (the row may have said applied)', async () => {
  const acct = `pruned-${crypto.randomUUID()}`;
  const id = crypto.randomUUID();
  await p.producer.send({
    topic: p.topic,
    messages: [ceRecord(p.source, { id, type: 'test.pruned', data: { account: acct, amount: 9 } }, acct)],
  });
  const entries = await eventually(() => oneDlqRecord('test.pruned', id), 60_000, 'dead-letter record');
  await eventually(
    async () =>
      (
        await p.db.pool.query("select 1 from processed_events where id = $1 and status = 'dead_lettered'", [
          id,
        ])
      ).rowCount === 1,
    60_000,
    'the dead-lettered row',
  );
  // Retention pruned the row; the handler is fixed meanwhile.
  await p.db.pool.query('delete from processed_events where id = $1', [id]);
  prunedBroken = false;
  const items = await redrive(p.temporal, p.config, entries, { wait: true });
  expect(items.map((i) => i.status)).toEqual(['duplicate']);
  expect(await ledger(p, acct)).toEqual({ balances: {}, entries: 0 });
  expect((await p.db.pool.query('select 1 from processed_events where id = $1', [id])).rowCount).toBe(0);
}, 180_000);
