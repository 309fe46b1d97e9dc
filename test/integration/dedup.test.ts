/**
 * Exactly-once on the real stack: the same event delivered many times (same and
 * different partitions, before and after it completed) is applied once; and when
 * Temporal has forgotten the workflow, the store's layer still holds. The layers are
 * tested with the pre-start lookup off (it would catch the later copies first), and
 * the lookup on its own at the end.
 */
import crypto from 'node:crypto';
import type { IdemProcess } from '../../src/app';
import { workflowIdFor } from '../../src/events/identity';
import {
  allCommitted,
  ceRecord,
  createPipeline,
  ledger,
  metricValue,
  type Pipeline,
} from '../support/pipeline';
import { eventually } from '../support/poll';

let p: Pipeline;
let proc: IdemProcess;

beforeAll(async () => {
  p = await createPipeline('dedup', { IDEM_SKIP_APPLIED: 'false' });
  proc = await p.start();
}, 120_000);

afterAll(async () => {
  await p?.close();
});

test('one event delivered eight times, on two partitions, before and after completion, applies once', async () => {
  const acct = `acct-${crypto.randomUUID()}`;
  const dup = { id: crypto.randomUUID(), type: 'account.credited', data: { account: acct, amount: 1000 } };
  const others = Array.from({ length: 20 }, (_, i) => ({
    id: crypto.randomUUID(),
    type: i % 4 === 0 ? 'account.debited' : 'account.credited',
    data: { account: acct, amount: 10 + i },
  }));
  // Five copies at once: three on partition 0, two on partition 1, mixed with other events.
  await p.producer.send({
    topic: p.topic,
    messages: [
      ceRecord(p.source, dup, acct, 0),
      ...others.slice(0, 10).map((e) => ceRecord(p.source, e, acct, 0)),
      ceRecord(p.source, dup, acct, 1),
      ceRecord(p.source, dup, acct, 0),
      ...others.slice(10).map((e) => ceRecord(p.source, e, acct, 1)),
      ceRecord(p.source, dup, acct, 1),
      ceRecord(p.source, dup, acct, 0),
    ],
  });
  const handle = p.temporal.workflow.getHandle(workflowIdFor(p.source, dup.id));
  await eventually(
    async () => (await handle.describe()).status.name === 'COMPLETED',
    60_000,
    'first run to complete',
  );
  // Three more copies after it completed, one on a third partition.
  await p.producer.send({
    topic: p.topic,
    messages: [0, 1, 2].map((part) => ceRecord(p.source, dup, acct, part)),
  });
  await allCommitted(p);

  const expected =
    1000 + others.reduce((s, e) => s + (e.type === 'account.debited' ? -e.data.amount : e.data.amount), 0);
  await eventually(async () => (await ledger(p, acct)).entries === 21, 60_000, 'all effects');
  expect(await ledger(p, acct)).toEqual({ balances: { [acct]: expected }, entries: 21 });
  const row = await p.db.pool.query('select status from processed_events where event_id = $1', [
    workflowIdFor(p.source, dup.id),
  ]);
  expect(row.rows).toEqual([{ status: 'applied' }]);
  expect(await metricValue(proc, 'idem_duplicates_total', 'layer="temporal"')).toBe(7);
  expect(await handle.result()).toMatchObject({ outcome: 'applied' });
}, 180_000);

test("when Temporal has forgotten the workflow, a redelivery is caught by the store's layer", async () => {
  const acct = `acct-${crypto.randomUUID()}`;
  const e = { id: crypto.randomUUID(), type: 'account.credited', data: { account: acct, amount: 777 } };
  const workflowId = workflowIdFor(p.source, e.id);
  await p.producer.send({ topic: p.topic, messages: [ceRecord(p.source, e, acct)] });
  const handle = p.temporal.workflow.getHandle(workflowId);
  await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 60_000, 'first run');

  // As after the namespace retention: the workflow ID is free again in Temporal.
  await p.temporal.workflowService.deleteWorkflowExecution({
    namespace: p.config.temporal.namespace,
    workflowExecution: { workflowId },
  });
  await eventually(
    async () =>
      handle.describe().then(
        () => false,
        () => true,
      ),
    60_000,
    'workflow deletion',
  );
  const storeDupsBefore = await metricValue(proc, 'idem_duplicates_total', 'layer="store"');
  await p.producer.send({ topic: p.topic, messages: [ceRecord(p.source, e, acct)] });
  // A new run starts (Temporal no longer knows the ID) and the store reports a duplicate.
  await eventually(
    async () => {
      const d = await handle.describe().catch(() => undefined);
      return d?.status.name === 'COMPLETED';
    },
    60_000,
    'second run',
  );
  expect(await handle.result()).toMatchObject({ outcome: 'duplicate' });
  await allCommitted(p);
  expect(await ledger(p, acct)).toEqual({ balances: { [acct]: 777 }, entries: 1 });
  expect(await metricValue(proc, 'idem_duplicates_total', 'layer="store"')).toBe(storeDupsBefore + 1);
}, 180_000);

test('with the pre-start lookup, copies of an applied event skip Temporal and still apply nothing', async () => {
  const acct = `acct-${crypto.randomUUID()}`;
  const e = { id: crypto.randomUUID(), type: 'account.credited', data: { account: acct, amount: 5 } };
  const overrides = { IDEM_SKIP_APPLIED: 'true', KAFKA_GROUP_ID: `${p.config.kafka.groupId}-skip` };
  let skipping = await p.start(undefined, undefined, overrides);
  // The first consumer group read everything so far; the new group starts from the beginning too,
  // so it sees every earlier record of this file again: all already applied, or duplicates.
  await p.producer.send({ topic: p.topic, messages: [ceRecord(p.source, e, acct)] });
  const handle = p.temporal.workflow.getHandle(workflowIdFor(p.source, e.id));
  await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 60_000, 'first run');
  await allCommitted(p, `${p.config.kafka.groupId}-skip`);
  const copies = () =>
    p.producer.send({
      topic: p.topic,
      messages: [0, 1, 2].map((part) => ceRecord(p.source, e, acct, part)),
    });
  const layers = async (proc: IdemProcess) => ({
    temporal: await metricValue(proc, 'idem_duplicates_total', 'layer="temporal"'),
    store: await metricValue(proc, 'idem_duplicates_total', 'layer="store"'),
    ingest: await metricValue(proc, 'idem_duplicates_total', 'layer="ingest"'),
  });

  // This process handed the event off (it read its first copy): the copies need no store query.
  let before = await layers(skipping);
  await copies();
  await allCommitted(p, `${p.config.kafka.groupId}-skip`);
  expect(await layers(skipping)).toEqual({ ...before, ingest: before.ingest + 3 });

  // A new process of the group has not seen the event: its store lookup finds it applied.
  await skipping.stop();
  skipping = await p.start(undefined, undefined, overrides);
  before = await layers(skipping);
  await copies();
  await allCommitted(p, `${p.config.kafka.groupId}-skip`);
  await allCommitted(p);
  // Never started in Temporal: the run that applied it is still the only one. The first copy the
  // new process reads is looked up and found applied (the store's layer); a copy on another
  // partition fetched after that is known to the process by then (the ingester's).
  const after = await layers(skipping);
  expect(after.temporal).toBe(before.temporal);
  expect(after.store - before.store).toBeGreaterThanOrEqual(1);
  expect(after.store + after.ingest - (before.store + before.ingest)).toBe(3);
  expect(await ledger(p, acct)).toEqual({ balances: { [acct]: 5 }, entries: 1 });
}, 180_000);
