/**
 * The outbox relay against a real PostgreSQL and the real local Kafka broker:
 * one fresh database for this file, one fresh topic per test, read back with a
 * kafkajs consumer. No fixed sleeps: every wait polls a condition.
 */
import crypto from 'node:crypto';
import { ConfigResourceTypes, Kafka, logLevel, type Admin, type Producer } from 'kafkajs';

import { loadConfig } from '../../src/config';
import { parseRecord } from '../../src/events/envelope';
import { createOutboxRelay, CLOUDEVENTS_JSON } from '../../src/outbox/relay';
import { countOutbox, fetchUnpublishedOutbox, insertOutbox } from '../../src/store/sql';
import { inTx, openTransaction, useTestDatabase } from '../support/db';
import { readAll, topicSize, type TopicRecord } from '../support/kafka';
import { eventually } from '../support/poll';

jest.setTimeout(60_000);

const db = useTestDatabase('outbox');
let kafka: Kafka;
let admin: Admin;
let producer: Producer;

beforeAll(async () => {
  kafka = new Kafka({
    clientId: 'idem-outbox-test',
    brokers: loadConfig().kafka.brokers,
    logLevel: logLevel.NOTHING,
  });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
  // Topics are per test run; leaving them would make the shared broker grow run after run.
  await admin?.deleteTopics({ topics: created }).catch(() => undefined);
  await admin?.disconnect();
});

const uid = () => crypto.randomBytes(6).toString('hex');

const created: string[] = [];

async function newTopic(partitions = 1): Promise<string> {
  const topic = `idem-test-outbox-${uid()}`;
  created.push(topic);
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
  });
  return topic;
}

async function insertRows(topic: string, n: number, opts: { key?: (i: number) => string | null } = {}) {
  return inTx(db.pool, async (tx) => {
    const rows: { seq: string; id: string }[] = [];
    for (let i = 0; i < n; i++) {
      rows.push(
        await insertOutbox(tx, {
          topic,
          messageKey: opts.key ? opts.key(i) : `key-${i % 3}`,
          type: 'account.balance_changed',
          source: 'idem',
          subject: `subject-${i}`,
          data: { i },
          causedBy: `event:test:${i}`,
        }),
      );
    }
    return rows;
  });
}

const valueOf = (r: TopicRecord) => JSON.parse(r.value ?? 'null') as Record<string, unknown>;

it('publishes rows as structured CloudEvents, keyed, in order, and marks them published', async () => {
  const topic = await newTopic();
  const rows = await insertRows(topic, 5);
  const relay = createOutboxRelay({ pool: db.pool, producer });

  await expect(relay.runOnce()).resolves.toBe(5);
  await expect(relay.runOnce()).resolves.toBe(0);
  expect(await countOutbox(db.pool)).toMatchObject({ unpublished: 0 });
  expect(await topicSize(kafka, topic)).toBe(5);

  const messages = await readAll(kafka, topic);
  expect(messages.map((m) => valueOf(m).id)).toEqual(rows.map((r) => r.id));
  const created = await db.pool.query<{ id: string; created_at: Date }>(
    'select id, created_at from outbox where id = $1',
    [rows[1]?.id],
  );
  const record = messages[1] as TopicRecord;
  const m = record.message;
  expect(record.key).toBe('key-1');
  expect(record.headers['content-type']).toBe(CLOUDEVENTS_JSON);
  expect(valueOf(record)).toEqual({
    specversion: '1.0',
    id: rows[1]?.id,
    source: 'idem',
    type: 'account.balance_changed',
    subject: 'subject-1',
    time: created.rows[0]?.created_at.toISOString(),
    datacontenttype: 'application/json',
    data: { i: 1 },
    idemcausedby: 'event:test:1',
  });

  // idem's own envelope parser reads it back as the same event.
  const parsed = parseRecord(
    {
      topic,
      partition: 0,
      offset: m.offset,
      timestamp: m.timestamp,
      key: m.key,
      value: m.value,
      headers: m.headers,
    },
    { maxEventBytes: 1 << 20 },
  );
  expect(parsed).toMatchObject({ ok: true, event: { id: rows[1]?.id, mode: 'structured', data: { i: 1 } } });
});

it('rows locked by another relay are skipped, then published once', async () => {
  const topic = await newTopic();
  const rows = await insertRows(topic, 5);
  const relay = createOutboxRelay({ pool: db.pool, producer });

  // Another relay in the middle of a batch holds the first two rows.
  await openTransaction(db.pool, async (other, endOther) => {
    expect((await fetchUnpublishedOutbox(other, 2)).map((r) => r.id)).toEqual(
      rows.slice(0, 2).map((r) => r.id),
    );
    await expect(relay.runOnce()).resolves.toBe(3);
    await expect(relay.runOnce()).resolves.toBe(0);
    // The other relay dies before publishing: its rows come free.
    await endOther('rollback');
  });
  await expect(relay.runOnce()).resolves.toBe(2);

  expect(await topicSize(kafka, topic)).toBe(5);
  const ids = (await readAll(kafka, topic)).map((m) => valueOf(m).id);
  expect(new Set(ids)).toEqual(new Set(rows.map((r) => r.id)));
});

it('several relays at once publish every row exactly once', async () => {
  const topic = await newTopic(3);
  const rows = await insertRows(topic, 60, { key: (i) => `acct-${i % 7}` });
  const relays = [1, 2, 3].map(() => createOutboxRelay({ pool: db.pool, producer, batchSize: 4 }));
  const drain = async (r: ReturnType<typeof createOutboxRelay>) => {
    let total = 0;
    for (let n = await r.runOnce(); n > 0; n = await r.runOnce()) total += n;
    return total;
  };
  const published = await Promise.all(relays.map(drain));
  expect(published.reduce((a, b) => a + b, 0)).toBe(60);

  expect(await topicSize(kafka, topic)).toBe(60);
  const ids = (await readAll(kafka, topic)).map((m) => valueOf(m).id);
  expect(ids).toHaveLength(60);
  expect(new Set(ids)).toEqual(new Set(rows.map((r) => r.id)));
});

it('a crash between publish and commit republishes the rows with the same ids', async () => {
  const topic = await newTopic();
  const rows = await insertRows(topic, 3);
  const crashing: Producer = {
    ...producer,
    sendBatch: async (batch) => {
      await producer.sendBatch(batch);
      throw new Error('process died after Kafka acked');
    },
  };
  await expect(createOutboxRelay({ pool: db.pool, producer: crashing }).runOnce()).rejects.toThrow(
    'process died',
  );
  expect(await countOutbox(db.pool)).toMatchObject({ unpublished: 3 });

  await expect(createOutboxRelay({ pool: db.pool, producer }).runOnce()).resolves.toBe(3);
  expect(await countOutbox(db.pool)).toMatchObject({ unpublished: 0 });

  expect(await topicSize(kafka, topic)).toBe(6);
  const ids = (await readAll(kafka, topic)).map((m) => valueOf(m).id);
  const expected = rows.map((r) => r.id);
  expect(ids).toEqual([...expected, ...expected]);
});

it('start() polls until stop(); rows written while it runs are published', async () => {
  const topic = await newTopic();
  const published = { n: 0 };
  const relay = createOutboxRelay({
    pool: db.pool,
    producer,
    pollIntervalMs: 20,
    metrics: { outboxPublished: { inc: (v = 1) => void (published.n += v) } },
  });
  relay.start();
  relay.start(); // a no-op when running
  try {
    const rows = await insertRows(topic, 4);
    await eventually(
      async () => (await countOutbox(db.pool)).unpublished === 0,
      30_000,
      'the relay to publish',
      10,
    );
    expect(published.n).toBe(4);
    const ids = (await readAll(kafka, topic)).map((m) => valueOf(m).id);
    expect(ids).toEqual(rows.map((r) => r.id));
  } finally {
    await relay.stop();
  }
  // Stopped: new rows stay unpublished.
  await insertRows(topic, 1);
  expect(await countOutbox(db.pool)).toMatchObject({ unpublished: 1 });
  await expect(relay.runOnce()).resolves.toBe(1);
});

it('keeps going after a failed batch', async () => {
  const topic = await newTopic();
  let failures = 1;
  const flaky: Producer = {
    ...producer,
    sendBatch: async (batch) => {
      if (failures-- > 0) throw new Error('broker unavailable');
      return producer.sendBatch(batch);
    },
  };
  const warnings: unknown[] = [];
  const relay = createOutboxRelay({
    pool: db.pool,
    producer: flaky,
    pollIntervalMs: 10,
    logger: { warn: (obj: unknown) => void warnings.push(obj), debug: () => undefined } as never,
  });
  const rows = await insertRows(topic, 2);
  relay.start();
  try {
    await eventually(
      async () => (await countOutbox(db.pool)).unpublished === 0,
      30_000,
      'the relay to recover',
      10,
    );
  } finally {
    await relay.stop();
  }
  expect(warnings).toHaveLength(1);
  expect(await topicSize(kafka, topic)).toBe(2);
  expect((await readAll(kafka, topic)).map((m) => valueOf(m).id)).toEqual(rows.map((r) => r.id));
});

it('a row Kafka refuses for good is moved aside with its error; the rows around it are published', async () => {
  const topic = await newTopic();
  // The topic takes less than one of the rows: Kafka answers MESSAGE_TOO_LARGE, which no retry changes.
  await admin.alterConfigs({
    validateOnly: false,
    resources: [
      {
        type: ConfigResourceTypes.TOPIC,
        name: topic,
        configEntries: [{ name: 'max.message.bytes', value: '2000' }],
      },
    ],
  });
  const rows = await inTx(db.pool, async (tx) => {
    const out: { seq: string; id: string }[] = [];
    for (const [i, pad] of [0, 3000, 0].entries())
      out.push(
        await insertOutbox(tx, {
          topic,
          messageKey: 'k',
          type: 'test.sized',
          source: 'idem',
          subject: null,
          data: { i, pad: 'p'.repeat(pad) },
          causedBy: null,
        }),
      );
    return out;
  });
  const failed: number[] = [];
  const relay = createOutboxRelay({
    pool: db.pool,
    producer,
    metrics: { outboxFailed: { inc: (n = 1) => void failed.push(n) } },
  });
  // Before, this batch failed whole and every later run failed the same way.
  await expect(relay.runOnce()).resolves.toBe(2);
  await expect(relay.runOnce()).resolves.toBe(0);
  expect(failed).toEqual([1]);
  const published = await eventually(async () => {
    const r = await readAll(kafka, topic);
    return r.length === 2 && r;
  });
  expect(published.map((r) => valueOf(r).data)).toEqual([
    { i: 0, pad: '' },
    { i: 2, pad: '' },
  ]);
  const { rows: aside } = await db.pool.query<{
    seq: string;
    published_at: Date | null;
    failed_at: Date | null;
    last_error: string;
  }>('select seq, published_at, failed_at, last_error from outbox where seq = $1', [rows[1]?.seq]);
  expect(aside[0]?.published_at).toBeNull();
  expect(aside[0]?.failed_at).toBeInstanceOf(Date);
  expect(aside[0]?.last_error).toMatch(/too large|larger than/i);
});
