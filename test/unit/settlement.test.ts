/** SettlementWatch: per-key ordering's boundary, observed with one store query per tick. */
import { SettlementWatch } from '../../src/ingest/settlement';

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));
const never = () => new Promise<never>(() => undefined);

function fakeStore() {
  const settled = new Set<string>();
  const deadLettered = new Set<string>();
  const queries: string[][] = [];
  return {
    settled,
    deadLettered,
    queries,
    findSettled: async (keys: string[]) => {
      queries.push([...keys]);
      return new Map(
        keys
          .filter((k) => settled.has(k) || deadLettered.has(k))
          .map((k) => [k, deadLettered.has(k) ? ('dead_lettered' as const) : ('applied' as const)]),
      );
    },
  };
}

test('releases an event once the store says it settled, asking about every waited event in one query', async () => {
  const store = fakeStore();
  const watch = new SettlementWatch({ findSettled: store.findSettled, intervalMs: 5 });
  const released: string[] = [];
  for (const k of ['a', 'b', 'c']) void watch.settled(k, never).then(() => released.push(k));
  await tick();
  expect(released).toEqual([]);
  expect(store.queries.at(-1)?.sort()).toEqual(['a', 'b', 'c']);
  store.settled.add('b');
  await tick();
  expect(released).toEqual(['b']);
  expect(watch.size()).toBe(2);
  store.settled.add('a');
  store.settled.add('c');
  await tick();
  expect(released.sort()).toEqual(['a', 'b', 'c']);
  expect(watch.size()).toBe(0);
  // Nothing waited on: no more queries.
  const asked = store.queries.length;
  await tick();
  expect(store.queries.length).toBe(asked);
  watch.stop();
});

test('an event the store never settles is released when its workflow closes, after the fallback delay', async () => {
  const store = fakeStore();
  const watch = new SettlementWatch({ findSettled: store.findSettled, intervalMs: 5, fallbackAfterMs: 40 });
  let closedAsked = false;
  let released = false;
  void watch
    .settled('terminated', async () => {
      closedAsked = true; // the ingester's waitClosed resolves however the workflow ended
    })
    .then(() => (released = true));
  await tick(20);
  expect(closedAsked).toBe(false); // no long poll while the store may still answer
  await tick(60);
  expect(closedAsked).toBe(true);
  expect(released).toBe(true);
  watch.stop();
});

test('an abandoned close wait (a rebalance took the partition) releases nothing; the store still can', async () => {
  const store = fakeStore();
  const watch = new SettlementWatch({ findSettled: store.findSettled, intervalMs: 5, fallbackAfterMs: 20 });
  let released: string | undefined;
  void watch.settled('open', async () => Promise.reject(new Error('stopped'))).then((as) => (released = as));
  await tick(80);
  expect(released).toBeUndefined();
  expect(watch.size()).toBe(1);
  store.settled.add('open');
  await tick(40);
  expect(released).toBe('applied');
  watch.stop();
});

test('a failing store query is reported and retried, not fatal', async () => {
  let calls = 0;
  const errors: unknown[] = [];
  const watch = new SettlementWatch({
    intervalMs: 5,
    findSettled: async (keys) => {
      calls++;
      if (calls < 3) throw new Error('Connection terminated unexpectedly');
      return new Map(keys.map((k) => [k, 'applied' as const]));
    },
    onError: (err) => errors.push(err),
  });
  await watch.settled('k', never);
  expect(errors).toHaveLength(2);
  watch.stop();
});

test('stop() drops what is waited on without releasing it, so no key runs out of order at shutdown', async () => {
  const store = fakeStore();
  const watch = new SettlementWatch({ findSettled: store.findSettled, intervalMs: 5, fallbackAfterMs: 20 });
  let released = false;
  void watch.settled('k', async () => undefined).then(() => (released = true));
  watch.stop();
  store.settled.add('k');
  await tick(60);
  expect(released).toBe(false);
  expect(watch.size()).toBe(0);
});

test('says how the event settled: applied, dead-lettered, or its workflow closed', async () => {
  const store = fakeStore();
  store.settled.add('a');
  store.deadLettered.add('d');
  const watch = new SettlementWatch({ findSettled: store.findSettled, intervalMs: 5, fallbackAfterMs: 40 });
  const results = await Promise.all([
    watch.settled('a', never),
    watch.settled('d', never),
    watch.settled('terminated', async () => undefined),
  ]);
  expect(results).toEqual(['applied', 'dead_lettered', 'closed']);
  watch.stop();
});

test('two waits on one event are both released', async () => {
  const store = fakeStore();
  store.settled.add('k');
  const watch = new SettlementWatch({ findSettled: store.findSettled, intervalMs: 5 });
  await Promise.all([watch.settled('k', never), watch.settled('k', never)]);
  expect(watch.size()).toBe(0);
  watch.stop();
});

test('an event this process settled itself goes on at once, without a store query', async () => {
  const store = fakeStore();
  const watch = new SettlementWatch({
    findSettled: store.findSettled,
    intervalMs: 5,
    localNotices: { firstAskAfterMs: 1_000 },
  });
  const settled = watch.settled('k', never);
  watch.settle('k', 'applied');
  await expect(settled).resolves.toBe('applied');
  expect(store.queries).toEqual([]);
  expect(watch.size()).toBe(0);
  watch.stop();
});

test('with local notices the store is asked about an event late and then ever less often, for those another process settles', async () => {
  const store = fakeStore();
  const watch = new SettlementWatch({
    findSettled: store.findSettled,
    intervalMs: 5,
    localNotices: { firstAskAfterMs: 40, maxAskIntervalMs: 160 },
  });
  let released: string | undefined;
  void watch.settled('elsewhere', never).then((as) => (released = as));
  await tick(20);
  expect(store.queries).toEqual([]); // not before firstAskAfterMs
  await tick(60);
  expect(store.queries.length).toBe(1); // at 40 ms; the next at 40 + 80
  await tick(400);
  // 40, 120, 280, 440: gaps double up to the cap, never one query per 5 ms tick
  expect(store.queries.length).toBeGreaterThanOrEqual(2);
  expect(store.queries.length).toBeLessThanOrEqual(5);
  store.settled.add('elsewhere');
  await tick(250);
  expect(released).toBe('applied');
  watch.stop();
});

test('a new wait is asked about on its own schedule, not held back by an older key at a long gap', async () => {
  const store = fakeStore();
  const watch = new SettlementWatch({
    findSettled: store.findSettled,
    intervalMs: 5,
    localNotices: { firstAskAfterMs: 20, maxAskIntervalMs: 5_000 },
  });
  void watch.settled('old', never);
  await tick(400); // 'old' asked at 20, 60, 140 and 300 ms: next at 620
  store.settled.add('new');
  const asked = store.queries.length;
  await watch.settled('new', never); // asked about 20 ms after it began, alone
  expect(store.queries.slice(asked).find((q) => q.includes('new'))).toEqual(['new']);
  watch.stop();
});
