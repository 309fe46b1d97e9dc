/**
 * An operator's terminate of an event workflow (Temporal Web, `temporal workflow terminate`) on the
 * real stack: a terminated run runs no code of its own, so the worker's reconciler finds it and
 * dead-letters its event (reason terminated, redrivable); with ordering on, the key's later events
 * park behind it instead of waiting for a settlement that never comes. A run that a reset replaced
 * is left alone.
 */
import crypto from 'node:crypto';
import { HandlerRegistry } from '../../src/activities/handlers/registry';
import { readDlq } from '../../src/dlq/reader';
import { workflowIdFor } from '../../src/events/identity';
import { listParkedKeys } from '../../src/store/sql/key-parking';
import { getProcessedEvent } from '../../src/store/sql/get-processed-event';
import { ceRecord, createPipeline, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const TYPE = 'test.stubborn';
let p: Pipeline;

/** Fails every attempt of an event listed in `refuse` (retryably: the workflow keeps trying). */
const registry = new HandlerRegistry().register(TYPE, async (ctx) => {
  const refuse = await ctx.tx.query('select 1 from refuse where event_id = $1', [ctx.event.id]);
  if (refuse.rows.length > 0) throw new Error(`${ctx.event.id}: not yet`);
});

beforeAll(async () => {
  p = await createPipeline('terminate', {
    IDEM_MAX_ATTEMPTS: '1000',
    IDEM_RECONCILE_INTERVAL_MS: '500',
  });
  await p.db.pool.query('create table refuse (event_id text primary key)');
  await p.start(['ingester', 'worker', 'relay'], registry);
}, 120_000);

afterAll(async () => {
  await p?.close();
});

/** An event the handler refuses (its workflow keeps retrying), on a key of its own, its workflow
 * running; with `after`, the key's next event behind it. */
async function refusedEventRunning(prefix: string, after = false) {
  const key = `k-${crypto.randomBytes(3).toString('hex')}`;
  const id = `${prefix}-${key}`;
  await p.db.pool.query('insert into refuse (event_id) values ($1)', [id]);
  await p.producer.send({
    topic: p.topic,
    messages: [
      ceRecord(p.source, { id, type: TYPE, data: {} }, key, 0),
      ...(after ? [ceRecord(p.source, { id: `after-${key}`, type: TYPE, data: {} }, key, 0)] : []),
    ],
  });
  const workflowId = workflowIdFor(p.source, id);
  const handle = p.temporal.workflow.getHandle(workflowId);
  await eventually(
    async () => (await handle.describe()).status.name === 'RUNNING',
    60_000,
    'the workflow running',
  );
  return { key, id, workflowId, handle };
}

test('a terminated event workflow: its event is dead-lettered (terminated) and its key parks the next events', async () => {
  const { key, id: stuck, workflowId, handle } = await refusedEventRunning('stuck', true);
  await handle.terminate('stuck on purpose, by the test');

  const [entry] = await eventually(
    async () => {
      const e = await readDlq(p.kafka, p.dlqTopic, { id: stuck });
      return e.length === 1 ? e : undefined;
    },
    60_000,
    'the dead-letter record of the terminated event',
  );
  expect(entry?.info.reason).toBe('terminated');
  expect(entry?.info.error).toMatch(/terminated before it applied the event.*stuck on purpose, by the test/);
  expect(await getProcessedEvent(p.db.pool, workflowId)).toMatchObject({ status: 'dead_lettered' });
  // The key's next event waits parked (until a redrive or a skip), its offset committed.
  await eventually(
    async () => (await listParkedKeys(p.db.pool)).some((k) => k.topic === p.topic && k.key === key),
    60_000,
    'the key parked',
  );
}, 180_000);

test('a run that a reset replaced is left alone: the new run owns the event', async () => {
  const { id, workflowId, handle } = await refusedEventRunning('reset');
  const first = await handle.describe();
  // A reset to the first workflow task completion ends the current run as terminated.
  const history = await handle.fetchHistory();
  const wftCompleted = history.events?.find((e) => e.workflowTaskCompletedEventAttributes)?.eventId;
  await p.temporal.workflowService.resetWorkflowExecution({
    namespace: p.config.temporal.namespace,
    workflowExecution: { workflowId, runId: first.runId },
    reason: 'test reset',
    workflowTaskFinishEventId: wftCompleted,
    requestId: crypto.randomUUID(),
  });
  await eventually(
    async () =>
      (await p.temporal.workflow.getHandle(workflowId, first.runId).describe()).status.name === 'TERMINATED',
    30_000,
    'the reset-away run terminated',
  );
  // The new run applies once the handler accepts the event; the reconciler must not dead-letter it.
  await new Promise((r) => setTimeout(r, 3_000));
  await p.db.pool.query('delete from refuse where event_id = $1', [id]);
  await eventually(
    async () => (await getProcessedEvent(p.db.pool, workflowId))?.status === 'applied',
    60_000,
    'the reset run to apply the event',
  );
  expect(await readDlq(p.kafka, p.dlqTopic, { id })).toHaveLength(0);
}, 180_000);
