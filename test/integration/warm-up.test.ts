/**
 * The worker's warm-up (src/temporal/warm-up.ts) on the real stack: `idem consume` runs its
 * idemWarmUp workflows on its own task queue before it joins the consumer group, each with its
 * local activity, and none with IDEM_WARM_UP_WORKFLOWS=0. They are no events: the stuck scanner
 * and the reconciler look at processEvent workflows only.
 */
import { ceRecord, createPipeline, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';
import { WARM_UP_WORKFLOW } from '../../src/workflows/types';

const pipelines: Pipeline[] = [];

afterAll(async () => {
  for (const p of pipelines) await p.close();
});

async function warmUps(p: Pipeline) {
  const query = `WorkflowType = "${WARM_UP_WORKFLOW}" AND TaskQueue = "${p.config.temporal.taskQueue}"`;
  const found = [];
  for await (const wf of p.temporal.workflow.list({ query })) found.push(wf);
  return found;
}

test('idem consume runs its warm-up workflows before taking events, each with a local activity', async () => {
  const p = await createPipeline('warm-up', { IDEM_WARM_UP_WORKFLOWS: '5' });
  pipelines.push(p);
  const proc = await p.start();
  try {
    // Done before startIdem returned, so visible as soon as visibility catches up.
    const found = await eventually(async () => {
      const list = await warmUps(p);
      return list.length === 5 && list.every((wf) => wf.status.name === 'COMPLETED') && list;
    }, 30_000);
    expect(found.map((wf) => wf.workflowId)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^warm-up:/)]),
    );
    for (const wf of found) {
      const handle = p.temporal.workflow.getHandle(wf.workflowId);
      const result = (await handle.result()) as { i: number; text: string };
      expect(typeof result.i).toBe('number');
      expect(result.text).toContain('warm-up');
      const history = await handle.fetchHistory();
      expect(
        history.events?.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity'),
      ).toBe(true);
    }
    // And the process goes on to apply events as usual.
    await p.producer.send({
      topic: p.topic,
      messages: [
        ceRecord(
          p.source,
          { id: 'after-warm-up', type: 'account.credited', data: { account: 'w', amount: 3 } },
          'w',
        ),
      ],
    });
    await eventually(async () => {
      const { rows } = await p.db.pool.query("select 1 from processed_events where status = 'applied'");
      return rows.length === 1;
    }, 60_000);
  } finally {
    await proc.stop();
  }
}, 180_000);

test('IDEM_WARM_UP_WORKFLOWS=0 runs none', async () => {
  const p = await createPipeline('no-warm-up', { IDEM_WARM_UP_WORKFLOWS: '0' });
  pipelines.push(p);
  const proc = await p.start();
  try {
    await p.producer.send({
      topic: p.topic,
      messages: [
        ceRecord(p.source, { id: 'cold', type: 'account.credited', data: { account: 'c', amount: 1 } }, 'c'),
      ],
    });
    await eventually(async () => {
      const { rows } = await p.db.pool.query("select 1 from processed_events where status = 'applied'");
      return rows.length === 1;
    }, 60_000);
    expect(await warmUps(p)).toHaveLength(0);
  } finally {
    await proc.stop();
  }
}, 180_000);
