/**
 * The example of docs/handlers.md, kept working by this test: a handler for a new
 * event type, tested through the real applyEvent against a fresh PostgreSQL
 * database, and through the processEvent workflow on Temporal's test server.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';

import { defineHandler, HandlerRegistry } from '../../src/activities/handlers/registry';
import {
  applyTestEvent,
  createTestActivities,
  createTestDatabase,
  createTestEnvironment,
  RecordingDlqPublisher,
  runProcessEvent,
  testInput,
  testMessage,
  type TestDatabase,
  type TestWorkflowEnvironment,
} from '../../src/testing';

// --- The handler (in your code) ----------------------------------------------------------------

const orderPlaced = defineHandler(
  'order.placed',
  z.object({
    orderId: z.string().min(1),
    customer: z.string().min(1),
    totalCents: z.number().int().positive(),
  }),
  async (ctx, order) => {
    // ctx.tx is the transaction that also records the event as applied.
    await ctx.tx.query('insert into orders (order_id, customer, total_cents) values ($1, $2, $3)', [
      order.orderId,
      order.customer,
      order.totalCents,
    ]);
    // Written to the outbox in the same transaction; the relay publishes it to Kafka.
    await ctx.emit({ type: 'order.confirmed', data: { orderId: order.orderId }, key: order.orderId });
  },
);

const registry = new HandlerRegistry().add(orderPlaced);

// --- The tests ---------------------------------------------------------------------------------

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase({ prefix: 'orders' });
  await db.pool.query(`create table orders (
    order_id text primary key,
    customer text not null,
    total_cents bigint not null
  )`);
});

afterAll(async () => {
  await db?.drop();
});

const orderCount = async (orderId: string) =>
  (await db.pool.query('select 1 from orders where order_id = $1', [orderId])).rowCount;

test('applies an order once; the same event again is a duplicate', async () => {
  const message = testMessage({
    type: 'order.placed',
    data: { orderId: 'o-1', customer: 'ada', totalCents: 4200 },
    key: 'o-1',
  });

  await expect(applyTestEvent({ pool: db.pool, registry, message })).resolves.toEqual({
    outcome: 'applied',
    outboxCount: 1,
  });
  await expect(applyTestEvent({ pool: db.pool, registry, message })).resolves.toEqual({
    outcome: 'duplicate',
    outboxCount: 0,
  });

  expect(await orderCount('o-1')).toBe(1);
  const outbox = await db.pool.query(`select type, data from outbox where data->>'orderId' = 'o-1'`);
  expect(outbox.rows).toEqual([{ type: 'order.confirmed', data: { orderId: 'o-1' } }]);
});

test('an invalid order fails permanently with InvalidPayloadError and writes nothing', async () => {
  const message = testMessage({ type: 'order.placed', data: { orderId: 'o-2', totalCents: -1 } });

  const err = await applyTestEvent({ pool: db.pool, registry, message }).catch((e: unknown) => e);

  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: 'InvalidPayloadError', nonRetryable: true });
  expect(await orderCount('o-2')).toBe(0);
});

describe('the processEvent workflow with the real activities', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await createTestEnvironment();
  }, 120_000);

  afterAll(async () => {
    await env?.teardown();
  });

  test('applies an order', async () => {
    const message = testMessage({
      type: 'order.placed',
      data: { orderId: 'o-3', customer: 'grace', totalCents: 999 },
    });

    const result = await runProcessEvent(env, {
      input: testInput(message),
      activities: createTestActivities({ pool: db.pool, registry }),
    });

    expect(result).toEqual({ outcome: 'applied', outboxCount: 1 });
    expect(await orderCount('o-3')).toBe(1);
  });

  test('dead-letters an invalid order at once, with reason invalid_payload', async () => {
    const dlq = new RecordingDlqPublisher();
    const message = testMessage({ type: 'order.placed', data: { orderId: 'o-4' } });

    await expect(
      runProcessEvent(env, {
        input: testInput(message),
        activities: createTestActivities({ pool: db.pool, registry, dlq }),
      }),
    ).rejects.toBeInstanceOf(WorkflowFailedError);

    expect(dlq.records).toHaveLength(1);
    expect(dlq.records[0]?.headers['idem-reason']).toBe('invalid_payload');
    expect(await orderCount('o-4')).toBe(0);
  });
});
