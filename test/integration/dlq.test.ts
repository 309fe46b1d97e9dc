/**
 * Bad input on the real stack: malformed records and unknown types land in the
 * dead-letter topic with the right reason while the rest of the partition flows;
 * a redelivered copy of a dead-lettered event adds no second record.
 */
import crypto from 'node:crypto';
import type { IHeaders } from 'kafkajs';
import { workflowIdFor } from '../../src/events/identity';
import { allCommitted, ceRecord, createPipeline, ledger, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';
import { readAll } from '../support/kafka';

let p: Pipeline;

/** The record with forged idem-* headers beside its own. */
function forged<R extends { headers?: IHeaders }>(record: R): R {
  return {
    ...record,
    headers: { ...record.headers, 'idem-event-type': 'forged.type', 'idem-run-id': 'forged' },
  };
}

beforeAll(async () => {
  p = await createPipeline('dlq', { IDEM_MAX_EVENT_BYTES: '4096' });
  await p.start();
}, 120_000);

afterAll(async () => {
  await p?.close();
});

test('bad records are dead-lettered with their reason; good ones around them are applied', async () => {
  const acct = `acct-${crypto.randomUUID()}`;
  const good = (i: number) =>
    ceRecord(
      p.source,
      { id: `good-${acct}-${i}`, type: 'account.credited', data: { account: acct, amount: 100 } },
      acct,
      0,
    );
  const unknown = { id: crypto.randomUUID(), type: 'account.closed', data: { account: acct } };
  const bad: {
    key: string;
    value: Buffer | string;
    headers?: Record<string, string>;
    partition: number;
    expect: string;
  }[] = [
    {
      key: 'x',
      value: 'this is not json',
      // A producer's forged idem-* headers: stripped from the copy; its other headers kept.
      headers: { 'idem-event-type': 'account.credited', 'idem-reason': 'forged', 'x-trace': 'keep-me' },
      partition: 0,
      expect: 'invalid_envelope',
    },
    {
      key: 'x',
      value: JSON.stringify({ specversion: '1.0', source: 's', type: 't' }),
      partition: 0,
      expect: 'invalid_envelope',
    },
    {
      key: 'x',
      value: JSON.stringify({ specversion: '1.0', source: 's', type: 't', id: 'x'.repeat(1001) }),
      partition: 0,
      expect: 'invalid_envelope',
    },
    {
      key: 'x',
      value: JSON.stringify({ specversion: '0.3', source: 's', type: 't', id: '1' }),
      partition: 0,
      expect: 'invalid_envelope',
    },
    {
      key: 'x',
      value: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      partition: 0,
      expect: 'invalid_utf8',
    },
    {
      key: 'x',
      value: JSON.stringify({ id: 'big', type: 't', pad: 'y'.repeat(5000) }),
      partition: 0,
      expect: 'too_large',
    },
  ];
  await p.producer.send({
    topic: p.topic,
    messages: [
      good(0),
      ...bad.map(({ key, value, headers, partition }) => ({
        key,
        value,
        partition,
        ...(headers ? { headers } : {}),
      })),
      good(1),
      // Its own key: with key parking, good(2) on the same key would wait behind it
      // (key-parking.test.ts shows that).
      forged(ceRecord(p.source, unknown, `${acct}-closed`, 0)),
      good(2),
    ],
  });
  await allCommitted(p);
  await eventually(
    async () => (await readAll(p.kafka, p.dlqTopic)).length === 7,
    60_000,
    '7 dead-letter records',
  );
  expect(
    await eventually(
      async () => ((await ledger(p, acct)).entries === 3 ? ledger(p, acct) : undefined),
      60_000,
    ),
  ).toEqual({
    balances: { [acct]: 300 },
    entries: 3,
  });

  const dlq = await readAll(p.kafka, p.dlqTopic);
  const reasons = dlq.map((r) => r.headers['idem-reason']).sort();
  expect(reasons).toEqual([...bad.map((b) => b.expect), 'unknown_type'].sort());
  for (const r of dlq) {
    expect(r.headers['idem-original-topic']).toBe(p.topic);
    expect(r.headers['idem-original-partition']).toBe('0');
    expect(r.headers['idem-original-offset']).toMatch(/^\d+$/);
    expect(r.headers['idem-error']?.length).toBeGreaterThan(0);
  }
  // Original key and value are kept unchanged.
  const notJson = dlq.find((r) => r.value === 'this is not json');
  expect(notJson?.key).toBe('x');
  expect(notJson?.headers['x-trace']).toBe('keep-me');
  expect(notJson?.headers['idem-event-type']).toBeUndefined();
  expect(notJson?.headers['idem-reason']).toBe('invalid_envelope');
  // Each dead-lettering has its id: copies of one (a retried publish, a re-read record) share it.
  expect(notJson?.headers['idem-dead-letter-id']).toBe(
    `ingest:${p.topic}:0:${notJson?.headers['idem-original-offset']}`,
  );
  const unknownRecord = dlq.find((r) => r.headers['idem-reason'] === 'unknown_type');
  expect(unknownRecord?.headers['idem-workflow-id']).toBe(workflowIdFor(p.source, unknown.id));
  expect(unknownRecord?.headers['idem-attempts']).toBe('1');
  expect(unknownRecord?.headers['idem-event-type']).toBe('account.closed');
  expect(unknownRecord?.headers['idem-dead-letter-id']).toBe(`run:${unknownRecord?.headers['idem-run-id']}`);
  expect(Object.values(unknownRecord?.headers ?? {})).not.toContain('forged.type');
  expect(JSON.parse(unknownRecord?.value ?? '{}')).toMatchObject({ id: unknown.id, type: 'account.closed' });
  const handle = p.temporal.workflow.getHandle(workflowIdFor(p.source, unknown.id));
  // The run ends failed once its deadLetter activity has returned (the record is out before).
  await eventually(async () => (await handle.describe()).status.name === 'FAILED', 30_000, 'the run failed');

  // Redelivered copies of the dead-lettered event: duplicates, no second record.
  await p.producer.send({
    topic: p.topic,
    messages: [ceRecord(p.source, unknown, acct, 0), ceRecord(p.source, unknown, acct, 1)],
  });
  await allCommitted(p);
  expect(
    (await readAll(p.kafka, p.dlqTopic)).filter((r) => r.headers['idem-reason'] === 'unknown_type'),
  ).toHaveLength(1);
  const row = await p.db.pool.query(
    'select status, dead_lettered_count from processed_events where event_id = $1',
    [workflowIdFor(p.source, unknown.id)],
  );
  expect(row.rows).toEqual([{ status: 'dead_lettered', dead_lettered_count: 1 }]);
}, 180_000);

test('a rejected record read again (a replay, a rebalance before its offset was committed) is not published again', async () => {
  const before = (await readAll(p.kafka, p.dlqTopic)).length;
  const replayGroup = `${p.config.kafka.groupId}-again`;
  // A second consumer group reads the whole topic again: every rejected record of the test
  // above, and a new one.
  await p.producer.send({ topic: p.topic, messages: [{ key: 'y', value: 'not json either', partition: 0 }] });
  await eventually(
    async () => (await readAll(p.kafka, p.dlqTopic)).length === before + 1,
    60_000,
    'the new rejection published',
  );
  const again = await p.start(['ingester'], undefined, { KAFKA_GROUP_ID: replayGroup });
  await allCommitted(p, replayGroup);
  await again.stop();
  const dlq = await readAll(p.kafka, p.dlqTopic);
  expect(dlq).toHaveLength(before + 1);
  const ids = dlq.map((r) => r.headers['idem-dead-letter-id']);
  expect(new Set(ids).size).toBe(ids.length);
}, 180_000);
