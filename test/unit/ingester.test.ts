/**
 * The Ingester with a fake kafkajs consumer (the test hands it batches as kafkajs would) and a
 * fake Temporal client (starts recorded, never run), a fake store for settlement and parking:
 * flow control by pausing, the order boundary at settlement, the bound on unsettled events, and
 * key parking, each without a server.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { ServiceError, type Client } from '@temporalio/client';
import type { EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { parseConfig } from '../../src/config';
import type { DlqPublisher } from '../../src/dlq/publisher';
import { Ingester, type IngesterOptions } from '../../src/ingest/ingester';
import type { ParkedEventRow, ParkingStore } from '../../src/ingest/parking';
import { silentLogger } from '../../src/observability/logger';
import { createMetrics, type Metrics } from '../../src/observability/metrics';

const TOPIC = 'orders';
const flush = (ms = 30) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await flush(5);
  }
}

/** A kafkajs consumer that records what the ingester asks of it. */
class FakeConsumer {
  readonly events = { GROUP_JOIN: 'group_join', CRASH: 'crash' };
  eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined;
  readonly commits: { topic: string; partition: number; offset: string }[] = [];
  readonly paused: number[] = [];
  readonly resumed: number[] = [];
  /** Every batch delivered, held weakly: the ingester must not keep one alive. */
  readonly batches: WeakRef<object>[] = [];
  /** The options the ingester created the consumer with. */
  options: Record<string, unknown> | undefined;
  private readonly listeners = new Map<string, ((e: unknown) => void)[]>();
  on(event: string, listener: (e: unknown) => void) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
  }
  /** A new generation of the group (a rebalance): kafkajs emits GROUP_JOIN. */
  rejoin(partitions: number[] = [0]) {
    for (const l of this.listeners.get(this.events.GROUP_JOIN) ?? [])
      l({ payload: { memberAssignment: { [TOPIC]: partitions } } });
  }
  async connect() {}
  async subscribe() {}
  async run(o: { eachBatch: (p: EachBatchPayload) => Promise<void> }) {
    this.eachBatch = o.eachBatch;
  }
  pause() {}
  async commitOffsets(offsets: { topic: string; partition: number; offset: string }[]) {
    this.commits.push(...offsets);
  }
  async disconnect() {}
  /** The highest committed offset of a partition (Kafka convention: the next to read). */
  committed(partition: number): bigint {
    return this.commits
      .filter((c) => c.partition === partition)
      .reduce((m, c) => (BigInt(c.offset) > m ? BigInt(c.offset) : m), -1n);
  }

  /** Delivers a batch as kafkajs would; returns the offsets resolved and what the handler did. */
  async deliver(partition: number, messages: KafkaMessage[], opts: { heartbeat?: () => Promise<void> } = {}) {
    const resolved: string[] = [];
    let pausedNow = false;
    const batch = { topic: TOPIC, partition, messages, highWatermark: '1000' };
    this.batches.push(new WeakRef(batch));
    await this.eachBatch?.({
      batch,
      resolveOffset: (o: string) => resolved.push(o),
      heartbeat: opts.heartbeat ?? (async () => undefined),
      pause: () => {
        pausedNow = true;
        this.paused.push(partition);
        return () => this.resumed.push(partition);
      },
      // As kafkajs' own do, these close over the batch.
      isRunning: () => batch.messages !== undefined,
      isStale: () => batch.messages === undefined,
      commitOffsetsIfNecessary: async () => undefined,
      uncommittedOffsets: () => ({ topics: [] }),
    } as unknown as EachBatchPayload);
    return { resolved, pausedNow };
  }
}

let nextOffset = 0;
function message(id: string, key?: string): KafkaMessage {
  return {
    offset: String(nextOffset++),
    key: key === undefined ? null : Buffer.from(key),
    value: Buffer.from(
      JSON.stringify({ specversion: '1.0', source: 'test', id, type: 'order.append', data: {} }),
    ),
    headers: { 'content-type': Buffer.from('application/cloudevents+json') },
    timestamp: String(Date.now()),
    attributes: 0,
  } as unknown as KafkaMessage;
}

/** Temporal's client, as far as the ingester uses it: starts are recorded, nothing runs. */
function fakeClient(
  refuse: (workflowId: string) => Error | undefined = () => undefined,
  eager: (workflowId: string) => boolean = () => false,
) {
  const started: string[] = [];
  const client = {
    withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
    workflow: {
      start: async (_type: string, o: { workflowId: string; requestEagerStart?: boolean }) => {
        const refused = refuse(o.workflowId);
        if (refused) throw refused;
        started.push(o.workflowId);
        return { eagerlyStarted: o.requestEagerStart === true && eager(o.workflowId) };
      },
      getHandle: () => ({ result: () => new Promise(() => undefined) }),
    },
  };
  return { client: client as unknown as Client, started };
}

/** The store: which events settled and how, and the parking tables. */
function fakeStore() {
  const settled = new Map<string, 'applied' | 'dead_lettered'>();
  const skipped = new Set<string>();
  const parkedKeys = new Map<string, { partition: number; blockedBy: string }>();
  const parkedEvents: ParkedEventRow[] = [];
  const parking: ParkingStore = {
    parkedKeysOf: async (_topic, partition) =>
      new Set([...parkedKeys].filter(([, k]) => k.partition === partition).map(([key]) => key)),
    parkKey: async (k) => {
      if (settled.get(k.blockedBy) === 'dead_lettered' && !skipped.has(k.blockedBy) && !parkedKeys.has(k.key))
        parkedKeys.set(k.key, { partition: k.partition, blockedBy: k.blockedBy });
      return parkedKeys.has(k.key);
    },
    parkEvent: async (e) => {
      if (!parkedKeys.has(e.key)) return false;
      if (!parkedEvents.some((x) => x.eventId === e.eventId)) parkedEvents.push(e);
      return true;
    },
    releasableKeys: async () =>
      [...parkedKeys]
        .filter(([, k]) => settled.get(k.blockedBy) === 'applied' || skipped.has(k.blockedBy))
        .map(([key, k]) => ({ topic: TOPIC, key, partition: k.partition })),
    nextParkedEvent: async (k) =>
      parkedEvents
        .filter((e) => e.key === k.key)
        .sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)))[0],
    deleteParkedEvent: async (id) => {
      const i = parkedEvents.findIndex((e) => e.eventId === id);
      if (i >= 0) parkedEvents.splice(i, 1);
    },
    reparkKey: async (k) => {
      const row = parkedKeys.get(k.key);
      if (row) row.blockedBy = k.blockedBy;
      await parking.deleteParkedEvent(k.blockedBy);
    },
    unparkKey: async (k) => {
      if (parkedEvents.some((e) => e.key === k.key)) return false;
      parkedKeys.delete(k.key);
      return true;
    },
    countParked: async () => ({ keys: parkedKeys.size, events: parkedEvents.length }),
  };
  return {
    settled,
    skipped,
    parkedKeys,
    parkedEvents,
    parking,
    findSettled: async (keys: string[]) =>
      new Map([...settled].filter(([k]) => keys.includes(k))) as Map<string, 'applied' | 'dead_lettered'>,
  };
}

const idOf = (id: string) => `event:test:${id}`;

interface Harness {
  ingester: Ingester;
  consumer: FakeConsumer;
  started: string[];
  store: ReturnType<typeof fakeStore>;
  metrics: Metrics;
  dead: { topic: string; headers?: Record<string, unknown> }[];
}

const running: Ingester[] = [];

async function harness(
  env: Record<string, string> = {},
  refuse?: (workflowId: string) => Error | undefined,
  eager?: (workflowId: string) => boolean,
  options: Partial<IngesterOptions> = {},
): Promise<Harness> {
  const consumer = new FakeConsumer();
  const kafka = {
    consumer: (options: Record<string, unknown>) => {
      consumer.options = options;
      return consumer;
    },
  } as unknown as Kafka;
  const { client, started } = fakeClient(refuse, eager);
  const store = fakeStore();
  const metrics = createMetrics({ defaults: false });
  const dead: Harness['dead'] = [];
  const dlq: DlqPublisher = {
    publish: async (r: { topic: string; headers?: Record<string, unknown> }) => {
      dead.push(r);
      return { partition: 0, offset: String(dead.length - 1) };
    },
  } as unknown as DlqPublisher;
  const ingester = new Ingester({
    kafka,
    client,
    config: parseConfig({ KAFKA_TOPICS: TOPIC, IDEM_SKIP_APPLIED: 'false', ...env }),
    dlq,
    logger: silentLogger,
    metrics,
    commitIntervalMs: 10,
    releaseIntervalMs: 10,
    shutdownGraceMs: 0,
    findSettled: store.findSettled,
    parking: store.parking,
    ...(eager ? { eagerStart: true } : {}),
    ...options,
  });
  await ingester.start();
  running.push(ingester);
  return { ingester, consumer, started, store, metrics, dead };
}

afterEach(async () => {
  for (const i of running.splice(0)) await i.stop();
});

test('a partition whose window empties commits at once, not at the commit timer', async () => {
  // The timer would commit only after a minute.
  const h = await harness({}, undefined, undefined, { commitIntervalMs: 60_000 });
  const records = Array.from({ length: 3 }, (_, i) => message(`idle-${i}`));
  await h.consumer.deliver(0, records);
  await until(
    () => h.consumer.committed(0) === BigInt(records.at(-1)?.offset ?? 0) + 1n,
    'the caught-up partition committed',
    1_000,
  );
  // One commit for the batch, not one per record.
  expect(h.consumer.commits.filter((c) => c.partition === 0)).toHaveLength(1);
});

test('a full window pauses its partition and returns at once; the others flow; room resumes it', async () => {
  const h = await harness({ IDEM_MAX_IN_FLIGHT: '4' });
  const stuck = Array.from({ length: 6 }, (_, i) => message(`p0-${i}`, 'k'));
  // Never settled: the key's first event holds the window.
  const first = await h.consumer.deliver(0, stuck);
  expect(first.pausedNow).toBe(true);
  // kafkajs' fetch position moves past the batch: the 2 records the window has no room for wait
  // in the partition's backlog.
  expect(first.resolved.at(-1)).toBe(stuck.at(-1)?.offset);
  expect(h.consumer.paused).toEqual([0]);
  expect(await h.metrics.pausedPartitions.get()).toMatchObject({ values: [{ value: 1 }] });

  // Another partition is not held by it.
  const other = Array.from({ length: 3 }, (_, i) => message(`p1-${i}`));
  expect((await h.consumer.deliver(1, other)).resolved.at(-1)).toBe(other.at(-1)?.offset);
  await until(
    () => h.consumer.committed(1) === BigInt(other.at(-1)?.offset ?? 0) + 1n,
    'partition 1 committed',
  );

  // The key's events settle one by one; once a quarter of the window is free the backlog is
  // fed to it, and kafkajs resumes once the backlog is empty.
  for (let i = 0; i < 4; i++) {
    await until(() => h.started.includes(idOf(`p0-${i}`)), `p0-${i} started`);
    h.store.settled.set(idOf(`p0-${i}`), 'applied');
  }
  await until(() => h.consumer.resumed.includes(0), 'partition 0 resumed');
  await until(() => h.started.includes(idOf('p0-4')), 'p0-4, from the backlog, started');
  expect(await h.metrics.pausedPartitions.get()).toMatchObject({ values: [{ value: 0 }] });
});

test('a fetch larger than the window is parsed as the window takes it, and never fetched again', async () => {
  const h = await harness({ IDEM_MAX_IN_FLIGHT: '4' });
  /** Records parsed so far: each parse observes its Kafka wait once. */
  const parsed = async () =>
    (await h.metrics.stageSeconds.get()).values.find(
      (v) => v.metricName === 'idem_event_stage_seconds_count' && v.labels.stage === 'kafka_wait',
    )?.value ?? 0;
  const fetch = Array.from({ length: 40 }, (_, i) => message(`big-${i}`, 'k'));
  const first = await h.consumer.deliver(0, fetch);
  expect(first.pausedNow).toBe(true);
  // Before, the whole fetch was parsed (and looked up) to take 4 of it, and again at each resume.
  expect(await parsed()).toBe(4);
  // The rest is the partition's backlog: fed to the window as it frees, each record parsed once,
  // and kafkajs (whose fetch position is past the batch) resumed only after the last.
  expect(first.resolved.at(-1)).toBe(fetch.at(-1)?.offset);
  for (let i = 0; i < 40; i++) {
    await until(() => h.started.includes(idOf(`big-${i}`)), `big-${i} started`);
    if (i < 36) expect(h.consumer.resumed).toEqual([]);
    h.store.settled.set(idOf(`big-${i}`), 'applied');
  }
  await until(() => h.consumer.resumed.includes(0), 'partition 0 resumed');
  expect(await parsed()).toBe(40);
  expect(h.started).toEqual(fetch.map((_, i) => idOf(`big-${i}`)));
  await until(() => h.consumer.committed(0) === BigInt(fetch.at(-1)?.offset ?? 0) + 1n, 'all committed');
});

test('a rebalance drops the backlog: the next generation reads it again from the committed offset', async () => {
  const h = await harness({ IDEM_MAX_IN_FLIGHT: '4' });
  const fetch = Array.from({ length: 12 }, (_, i) => message(`rb-${i}`, 'k'));
  expect((await h.consumer.deliver(0, fetch)).pausedNow).toBe(true);
  await until(() => h.started.includes(idOf('rb-0')), 'rb-0 started');
  h.consumer.rejoin([0]);
  // The paused partition is resumed for the new generation; nothing of the old backlog is fed.
  expect(h.consumer.resumed).toEqual([0]);
  for (let i = 0; i < 4; i++) h.store.settled.set(idOf(`rb-${i}`), 'applied');
  await flush(50);
  expect(h.started).not.toContain(idOf('rb-4'));
  // Nothing past the first record was committed: kafkajs reads the batch again in the new generation.
  expect(h.consumer.committed(0)).toBeLessThanOrEqual(BigInt(fetch[0]?.offset ?? 0));
});

test('records in flight do not keep their fetched batch alive', async () => {
  // A batch is up to a megabyte per partition: while its records wait for their workflows,
  // only they may stay, not the batch (through a closure that shares onBatch's scope).
  const h = await harness();
  await h.consumer.deliver(0, [message('held-0', 'k'), message('held-1', 'k')]);
  await until(() => h.started.includes(idOf('held-0')), 'held-0 started');
  expect(h.ingester.inFlight()).toEqual({ [`${TOPIC}:0`]: 2 }); // never settled: still in flight
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  await flush(5); // a WeakRef target is kept until the job that made the ref ends
  gc();
  expect(h.consumer.batches.map((b) => b.deref())).toEqual([undefined]);
});

test("records in flight do not keep the fetch response's bytes alive; copies known at once are not copied", async () => {
  // kafkajs hands over keys, values and headers as slices of the whole fetch response (up to a
  // megabyte per partition): a record handed off copies its own out, a copy completed at once
  // copies nothing, and neither keeps the response.
  const h = await harness();
  // Delivered from a function, so that nothing here holds the messages afterwards.
  const deliverSlices = async (): Promise<WeakRef<ArrayBuffer>> => {
    const fetched = [message('bytes-0', 'k'), message('bytes-0', 'k'), message('bytes-1', 'j')];
    const whole = Buffer.alloc(1_048_576); // not from Node's pool: its own ArrayBuffer
    let at = 0;
    const slice = (b: Buffer) => {
      b.copy(whole, at);
      at += b.length;
      return whole.subarray(at - b.length, at);
    };
    for (const m of fetched) {
      Object.assign(m, {
        key: m.key && slice(m.key),
        value: m.value && slice(m.value),
        headers: { 'content-type': slice(Buffer.from('application/cloudevents+json')) },
      });
    }
    await h.consumer.deliver(0, fetched);
    return new WeakRef(whole.buffer);
  };
  const bytes = await deliverSlices();
  await until(() => h.started.includes(idOf('bytes-1')), 'bytes-1 started');
  expect(h.started.filter((id) => id === idOf('bytes-0'))).toHaveLength(1);
  expect(h.ingester.inFlight()).toEqual({ [`${TOPIC}:0`]: 3 }); // never settled: still in flight
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  await flush(5);
  gc();
  expect(bytes.deref()).toBeUndefined();
});

test('the consumer waits at most IDEM_FETCH_MAX_WAIT_MS per fetch (and while all is paused)', async () => {
  expect((await harness()).consumer.options).toMatchObject({ maxWaitTimeInMs: 500 });
  const h = await harness({ IDEM_FETCH_MAX_WAIT_MS: '100' });
  expect(h.consumer.options).toMatchObject({ maxWaitTimeInMs: 100 });
});

test('a failed heartbeat (a rebalance) propagates, so kafkajs rejoins the group', async () => {
  const h = await harness();
  const rebalancing = Object.assign(new Error('The group is rebalancing, so a rejoin is needed'), {
    type: 'REBALANCE_IN_PROGRESS',
  });
  await expect(
    h.consumer.deliver(0, [message('hb-0')], { heartbeat: async () => Promise.reject(rebalancing) }),
  ).rejects.toBe(rebalancing);
});

test("a key's next event starts once the previous settled, and its offset is committed only then", async () => {
  const h = await harness();
  const [a, b, c] = [message('o-a', 'k'), message('o-b', 'k'), message('o-c')];
  await h.consumer.deliver(0, [a, b, c] as KafkaMessage[]);
  await until(() => h.started.includes(idOf('o-a')) && h.started.includes(idOf('o-c')), 'a and c started');
  await flush(50);
  expect(h.started).not.toContain(idOf('o-b'));
  // a started but not settled: nothing at or after it is committed (c's commit waits too).
  expect(h.consumer.committed(0)).toBeLessThanOrEqual(BigInt(a?.offset ?? 0));

  h.store.settled.set(idOf('o-a'), 'applied');
  await until(() => h.started.includes(idOf('o-b')), 'b started after a settled');
  await until(() => h.consumer.committed(0) === BigInt(a?.offset ?? 0) + 1n, 'a committed');
  h.store.settled.set(idOf('o-b'), 'applied');
  await until(() => h.consumer.committed(0) === BigInt(c?.offset ?? 0) + 1n, 'all committed');
});

test("a partition's parked keys are read when its batch comes, beside the store lookup, not after it", async () => {
  let lookedUp!: () => void;
  const lookup = new Promise<void>((r) => (lookedUp = r));
  const findApplied = async () => {
    await lookup;
    return new Set<string>();
  };
  const h = await harness({ IDEM_SKIP_APPLIED: 'true' }, undefined, undefined, { findApplied });
  let reads = 0;
  const parkedKeysOf = h.store.parking.parkedKeysOf;
  h.store.parking.parkedKeysOf = (topic, partition) => {
    reads++;
    return parkedKeysOf(topic, partition);
  };
  const delivered = h.consumer.deliver(0, [message('pk-a', 'k')]);
  // The lookup has not answered, and the parked keys are being read already: the partition's
  // first keyed event then waits for one round trip to the store, not two in a row.
  await until(() => reads === 1, 'parked keys read');
  expect(h.started).toEqual([]);
  lookedUp();
  await delivered;
  await until(() => h.started.includes(idOf('pk-a')), 'pk-a started');
  await h.consumer.deliver(0, [message('pk-b', 'k2')]);
  expect(reads).toBe(1); // once per partition and generation
});

test('starts are counted, and of them those Temporal started eagerly (the rest went through matching)', async () => {
  const h = await harness({}, undefined, (id) => id !== idOf('e-b'));
  await h.consumer.deliver(0, [message('e-a'), message('e-b'), message('e-c')] as KafkaMessage[]);
  const count = async (c: Metrics['started']) => (await c.get()).values.reduce((n, v) => n + v.value, 0);
  await until(() => h.started.length === 3, 'three started');
  await flush(20);
  expect(await count(h.metrics.started)).toBe(3);
  expect(await count(h.metrics.startedEagerly)).toBe(2);
});

test('after a rebalance the re-read events of a key still wait for its open event, also when this process keeps the partition', async () => {
  for (const skipApplied of ['true', 'false']) {
    const h = await harness({ IDEM_SKIP_APPLIED: skipApplied });
    const [a, b] = [message(`rb-a-${skipApplied}`, 'k'), message(`rb-b-${skipApplied}`, 'k')];
    await h.consumer.deliver(0, [a, b] as KafkaMessage[]);
    await until(() => h.started.includes(idOf(`rb-a-${skipApplied}`)), 'a started');
    // The group rebalances and the partition comes back to this process: read again from the
    // committed offset (nothing was committed), while a's first hand-off is still open.
    h.consumer.rejoin();
    await h.consumer.deliver(0, [a, b] as KafkaMessage[]);
    await flush(80);
    expect(h.started).not.toContain(idOf(`rb-b-${skipApplied}`));
    h.store.settled.set(idOf(`rb-a-${skipApplied}`), 'applied');
    await until(() => h.started.includes(idOf(`rb-b-${skipApplied}`)), 'b started after a settled');
    h.store.settled.set(idOf(`rb-b-${skipApplied}`), 'applied');
    await until(() => h.consumer.committed(0) === BigInt(b?.offset ?? 0) + 1n, 'all committed');
  }
});

test('copies of an event still open in the same generation take no room in the window, yet the commit waits for the first copy', async () => {
  // Two records not handed off fill this window; the copies must not count as such (they count
  // toward the whole window only, IDEM_MAX_WINDOW).
  const h = await harness({ IDEM_SKIP_APPLIED: 'true', IDEM_MAX_IN_FLIGHT: '2', IDEM_MAX_WINDOW: '16' });
  const first = message('cp-a', 'k');
  await h.consumer.deliver(0, [first]);
  await until(() => h.started.includes(idOf('cp-a')), 'the first copy started');
  for (let i = 0; i < 4; i++) {
    const copy = await h.consumer.deliver(0, [message('cp-a', 'k')]);
    expect(copy.pausedNow).toBe(false);
    await flush(5);
  }
  // The key's next event still waits for the first copy, which is not settled.
  const next = message('cp-b', 'k');
  await h.consumer.deliver(0, [next]);
  await flush(50);
  expect(h.started).toEqual([idOf('cp-a')]);
  expect(await h.metrics.duplicates.get()).toMatchObject({
    values: [{ labels: { layer: 'ingest' }, value: 4 }],
  });
  expect(h.consumer.committed(0)).toBeLessThanOrEqual(BigInt(first.offset));

  h.store.settled.set(idOf('cp-a'), 'applied');
  await until(() => h.started.includes(idOf('cp-b')), 'the next event started once the first copy settled');
  h.store.settled.set(idOf('cp-b'), 'applied');
  await until(() => h.consumer.committed(0) === BigInt(next.offset) + 1n, 'all committed');
});

test('copies of an event this process handed off are not looked up in the store: they complete at once, counted by the ingest layer', async () => {
  const asked: string[][] = [];
  const applied = new Set<string>();
  const findApplied = async (ids: string[]) => {
    asked.push(ids);
    return new Set(ids.filter((id) => applied.has(id)));
  };
  const h = await harness({ IDEM_SKIP_APPLIED: 'true' }, undefined, undefined, { findApplied });
  const first = message('ho-a', 'k');
  await h.consumer.deliver(0, [first]);
  await until(() => h.started.includes(idOf('ho-a')), 'the first copy started');
  h.store.settled.set(idOf('ho-a'), 'applied');
  applied.add(idOf('ho-a'));
  await until(() => h.consumer.committed(0) === BigInt(first.offset) + 1n, 'the first copy committed');
  // A later fetch: two copies of the handed-off event and one new event.
  const later = [message('ho-a', 'k'), message('ho-b', 'k'), message('ho-a', 'k')];
  await h.consumer.deliver(0, later);
  await until(() => h.started.includes(idOf('ho-b')), 'the new event started');
  expect(asked).toEqual([[idOf('ho-a')], [idOf('ho-b')]]);
  expect(h.started).toEqual([idOf('ho-a'), idOf('ho-b')]);
  expect(await h.metrics.duplicates.get()).toMatchObject({
    values: [{ labels: { layer: 'ingest' }, value: 2 }],
  });
  h.store.settled.set(idOf('ho-b'), 'applied');
  await until(() => h.consumer.committed(0) === BigInt(later[2]!.offset) + 1n, 'all committed');
});

test('at most IDEM_MAX_UNSETTLED events are started and not settled', async () => {
  const h = await harness({ IDEM_MAX_UNSETTLED: '3' });
  const ms = Array.from({ length: 8 }, (_, i) => message(`u-${i}`));
  await h.consumer.deliver(0, ms);
  await until(() => h.started.length === 3, 'three started');
  await flush(50);
  expect(h.started).toHaveLength(3);
  expect(await h.metrics.unsettled.get()).toMatchObject({ values: [{ value: 3 }] });
  for (const id of [...h.started]) h.store.settled.set(id, 'applied');
  await until(() => h.started.length === 6, 'three more started');
  for (const id of [...h.started]) h.store.settled.set(id, 'applied');
  await until(() => h.started.length === 8, 'all started');
});

test('a dead-lettered event parks its key: later events are parked and committed; a skip releases them in order', async () => {
  const h = await harness();
  const [d0, d1, d2, other] = [
    message('pk-0', 'p'),
    message('pk-1', 'p'),
    message('pk-2', 'p'),
    message('x-0', 'x'),
  ];
  await h.consumer.deliver(0, [d0, d1, d2, other] as KafkaMessage[]);
  await until(() => h.started.includes(idOf('pk-0')), 'pk-0 started');
  h.store.settled.set(idOf('pk-0'), 'dead_lettered');
  h.store.settled.set(idOf('x-0'), 'applied');
  await until(() => h.store.parkedEvents.length === 2, 'two parked');
  expect(h.store.parkedKeys.get('p')).toMatchObject({ blockedBy: idOf('pk-0') });
  expect(h.started).not.toContain(idOf('pk-1'));
  // Parked events complete: the whole batch is committed; the other key was never held.
  await until(() => h.consumer.committed(0) === BigInt(other?.offset ?? 0) + 1n, 'committed past the parked');

  // A later event of the key, read while it is parked, is parked behind the others.
  const d3 = message('pk-3', 'p');
  await h.consumer.deliver(0, [d3]);
  await until(() => h.store.parkedEvents.length === 3, 'pk-3 parked');

  h.store.skipped.add(idOf('pk-0'));
  await until(() => h.started.includes(idOf('pk-1')), 'pk-1 released');
  expect(h.started).not.toContain(idOf('pk-2'));
  h.store.settled.set(idOf('pk-1'), 'applied');
  await until(() => h.started.includes(idOf('pk-2')), 'pk-2 released after pk-1 settled');
  h.store.settled.set(idOf('pk-2'), 'applied');
  await until(() => h.started.includes(idOf('pk-3')), 'pk-3 released');
  h.store.settled.set(idOf('pk-3'), 'applied');
  await until(() => !h.store.parkedKeys.has('p'), 'key unparked');
  expect(h.started.filter((id) => id.includes('pk-'))).toEqual(['pk-0', 'pk-1', 'pk-2', 'pk-3'].map(idOf));

  // Unparked: the key's next event starts at once.
  await h.consumer.deliver(0, [message('pk-4', 'p')]);
  await until(() => h.started.includes(idOf('pk-4')), 'pk-4 started');
});

test('a parked key is released after a rebalance even when its partition has no new record', async () => {
  const h = await harness();
  const [q0, q1] = [message('q-0', 'q'), message('q-1', 'q')];
  await h.consumer.deliver(2, [q0, q1] as KafkaMessage[]);
  await until(() => h.started.includes(idOf('q-0')), 'q-0 started');
  h.store.settled.set(idOf('q-0'), 'dead_lettered');
  await until(() => h.store.parkedEvents.length === 1, 'q-1 parked');
  await until(() => h.consumer.committed(2) === BigInt(q1?.offset ?? 0) + 1n, 'committed');
  // A new generation owns partition 2, but nothing new arrives on it.
  h.consumer.rejoin([2]);
  h.store.skipped.add(idOf('q-0'));
  await until(() => h.started.includes(idOf('q-1')), 'q-1 released without a new record');
  h.store.settled.set(idOf('q-1'), 'applied');
  await until(() => !h.store.parkedKeys.has('q'), 'key unparked');
});

test("a start Temporal refuses for the event itself is dead-lettered, not retried, and its key's next event goes on", async () => {
  // What the real server answers to an input over its payload limit (see limits.test.ts).
  const tooBig = new ServiceError('Failed to start Workflow', {
    cause: Object.assign(new Error('3 INVALID_ARGUMENT: Blob data size exceeds limit.'), {
      code: 3,
      details: 'Blob data size exceeds limit.',
    }),
  });
  let refusals = 0;
  const h = await harness({}, (id) => (id === idOf('r-big') ? (refusals++, tooBig) : undefined));
  const [big, next] = [message('r-big', 'k'), message('r-next', 'k')];
  await h.consumer.deliver(0, [big, next] as KafkaMessage[]);
  await until(() => h.started.includes(idOf('r-next')), "the key's next event started");
  expect(refusals).toBe(1);
  expect(h.dead).toHaveLength(1);
  expect(h.dead[0]?.topic).toBe(`${TOPIC}.dlq`);
  expect(h.dead[0]?.headers?.['idem-reason']).toBe('too_large');
  expect(String(h.dead[0]?.headers?.['idem-error'])).toMatch(/Blob data size exceeds limit/);
  h.store.settled.set(idOf('r-next'), 'applied');
  await until(() => h.consumer.committed(0) === BigInt(next?.offset ?? 0) + 1n, 'both committed');
});

test('a start refused for a reason that is not the event (authentication, Temporal down) is retried', async () => {
  const denied = new ServiceError('Failed to start Workflow', {
    cause: Object.assign(new Error('7 PERMISSION_DENIED: Request unauthorized.'), { code: 7 }),
  });
  let refusals = 0;
  const h = await harness({}, (id) => (id === idOf('d-0') && refusals++ < 2 ? denied : undefined));
  await h.consumer.deliver(0, [message('d-0')]);
  await until(() => h.started.includes(idOf('d-0')), 'started on the third try');
  expect(refusals).toBe(3);
  expect(h.dead).toHaveLength(0);
});
