/** warmUpWorker against a stand-in client (the real worker's warm-up: test/integration/warm-up.test.ts). */
import type { Client } from '@temporalio/client';
import { warmUpWorker } from '../../src/temporal/warm-up';
import { WARM_UP_WORKFLOW, type WarmUpProbe } from '../../src/workflows/types';

interface Call {
  type: string;
  workflowId: string;
  taskQueue: string;
  args: WarmUpProbe[];
  requestEagerStart?: boolean;
}

/** A client whose workflows finish after `ms` (or as `run` says), counting the most at once. */
function fakeClient(run: (call: Call) => Promise<void> = () => Promise.resolve(), eager = true) {
  const calls: Call[] = [];
  let running = 0;
  let most = 0;
  const client = {
    workflow: {
      start: async (type: string, o: Omit<Call, 'type'>) => {
        const call = { type, ...o };
        calls.push(call);
        running++;
        most = Math.max(most, running);
        const done = run(call).finally(() => running--);
        return { eagerlyStarted: eager, result: () => done };
      },
    },
  } as unknown as Client;
  return { client, calls, most: () => most };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test('runs the warm-up workflows on the task queue, eagerly asked, a few at a time, with IDs of their own', async () => {
  const c = fakeClient(() => sleep(5));
  const report = await warmUpWorker(c.client, { taskQueue: 'tq', workflows: 10, concurrency: 3 });
  expect(report).toMatchObject({ completed: 10, eager: 10, timedOut: false });
  expect(report.error).toBeUndefined();
  expect(c.calls).toHaveLength(10);
  expect(c.most()).toBe(3);
  for (const call of c.calls) {
    expect(call).toMatchObject({ type: WARM_UP_WORKFLOW, taskQueue: 'tq', requestEagerStart: true });
    expect(call.workflowId).toMatch(/^warm-up:/);
  }
  expect(new Set(c.calls.map((x) => x.workflowId)).size).toBe(10);
  expect(c.calls.map((x) => x.args[0]?.i).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([...Array(10).keys()]);
});

test('counts the starts that were not eager', async () => {
  const c = fakeClient(undefined, false);
  expect(await warmUpWorker(c.client, { taskQueue: 'tq', workflows: 4 })).toMatchObject({
    completed: 4,
    eager: 0,
  });
});

test('a failure ends the warm-up and is reported, never thrown', async () => {
  const c = fakeClient(async (call) => {
    if (call.args[0]?.i === 1) throw new Error('namespace not found');
    await sleep(2);
  });
  const report = await warmUpWorker(c.client, { taskQueue: 'tq', workflows: 50, concurrency: 2 });
  expect(String(report.error)).toContain('namespace not found');
  expect(c.calls.length).toBeLessThan(50);
});

test('gives up after its timeout, and what is still running cannot fail it afterwards', async () => {
  let fail: (err: Error) => void = () => undefined;
  const c = fakeClient(() => new Promise<void>((_, reject) => (fail = reject)));
  const unhandled = jest.fn();
  process.on('unhandledRejection', unhandled);
  try {
    const report = await warmUpWorker(c.client, {
      taskQueue: 'tq',
      workflows: 4,
      concurrency: 1,
      timeoutMs: 30,
    });
    expect(report).toMatchObject({ completed: 0, timedOut: true });
    expect(report.ms).toBeGreaterThanOrEqual(25);
    fail(new Error('late'));
    await sleep(20);
    expect(report.error).toBeUndefined();
    expect(unhandled).not.toHaveBeenCalled();
    expect(c.calls).toHaveLength(1);
  } finally {
    process.off('unhandledRejection', unhandled);
  }
});

test('an abort (SIGTERM during start-up) ends it at once', async () => {
  const c = fakeClient(() => new Promise<void>(() => undefined));
  const ac = new AbortController();
  const warming = warmUpWorker(c.client, {
    taskQueue: 'tq',
    workflows: 4,
    timeoutMs: 60_000,
    signal: ac.signal,
  });
  await sleep(5);
  ac.abort();
  const report = await warming;
  expect(report).toMatchObject({ completed: 0, timedOut: false });
  expect(report.ms).toBeLessThan(1_000);
});

test('nothing to do when already aborted', async () => {
  const c = fakeClient(() => new Promise<void>(() => undefined));
  const ac = new AbortController();
  ac.abort();
  const report = await warmUpWorker(c.client, { taskQueue: 'tq', workflows: 4, signal: ac.signal });
  expect(report.completed).toBe(0);
  expect(c.calls).toHaveLength(0);
});
