/**
 * Handler failures on the real stack: a transient failure is retried and applies
 * once; a permanent one dead-letters, and after the handler is fixed, `dlq redrive`
 * applies it once, also when redriven twice.
 */
import crypto from 'node:crypto';
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
  await p.start(['ingester', 'worker'], registry);
}, 120_000);

afterAll(async () => {
  await p?.close();
});

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
