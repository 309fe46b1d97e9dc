/**
 * Temporal's payload limit on the real stack (issue 9): a record whose workflow input Temporal
 * would refuse is dead-lettered as too_large at ingest, with the size counted as Temporal counts
 * it, instead of being started (and retried) forever; Temporal's own refusal of a start is
 * classified as the event's.
 */
import crypto from 'node:crypto';
import { ConfigResourceTypes } from 'kafkajs';
import { StartRejectedError, startEventWorkflow, startRejection } from '../../src/temporal/start-event';
import { testInput, testMessage } from '../../src/testing';
import { allCommitted, ceRecord, createPipeline, ledger, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';
import { readAll } from '../support/kafka';

let p: Pipeline;

beforeAll(async () => {
  // The largest value the configuration allows: well under Temporal's 2 MiB as raw bytes.
  p = await createPipeline('limits', { IDEM_MAX_EVENT_BYTES: '1500000' });
  await p.start();
}, 120_000);

afterAll(async () => {
  await p?.close();
});

test('a value under IDEM_MAX_EVENT_BYTES whose JSON-escaped input exceeds 2 MiB is dead-lettered as too_large; the next event flows', async () => {
  const acct = `limits-${crypto.randomUUID()}`;
  // 1,047,000 bytes of escaped quotes (\" in the value's JSON, two bytes each): valid JSON, under
  // the broker's 1 MiB message limit, and twice that once the value is escaped into the input
  // (about 2,094,000 bytes: past idem's bound, 16 KiB under Temporal's 2 MiB, which the broker's
  // default limit keeps a record from reaching; the unit test of the Ingester and the last test
  // here cover a start Temporal itself refuses).
  const head = JSON.stringify({
    specversion: '1.0',
    source: p.source,
    id: `big-${acct}`,
    type: 'account.credited',
  }).slice(0, -1);
  const value = `${head},"data":{"account":"${acct}","amount":1,"note":"${'\\"'.repeat(523_500)}"}}`;
  await p.producer.send({
    topic: p.topic,
    messages: [
      { key: acct, value, partition: 0 },
      ceRecord(
        p.source,
        { id: `after-${acct}`, type: 'account.credited', data: { account: acct, amount: 5 } },
        acct,
        0,
      ),
    ],
  });
  await allCommitted(p);
  const [dead] = await eventually(
    async () => {
      const all = (await readAll(p.kafka, p.dlqTopic)).filter((r) => r.key === acct);
      return all.length === 1 && all;
    },
    60_000,
    'the dead-letter record',
  );
  expect(dead?.headers['idem-reason']).toBe('too_large');
  expect(dead?.headers['idem-error']).toMatch(/workflow input would be \d+ bytes as Temporal counts them/);
  expect(
    await eventually(async () => (await ledger(p, acct)).entries === 1 && ledger(p, acct), 60_000),
  ).toEqual({
    balances: { [acct]: 5 },
    entries: 1,
  });
}, 180_000);

test('a dead-letter copy the broker refuses as too large is published without its value, and the partition flows on', async () => {
  const acct = `dlqsize-${crypto.randomUUID()}`;
  const admin = p.kafka.admin();
  await admin.connect();
  try {
    // The dead-letter topic takes less than the source topic: the copy (value + idem-* headers)
    // of a 3,000-byte record does not fit, the copy without its value does.
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: p.dlqTopic,
          configEntries: [{ name: 'max.message.bytes', value: '2000' }],
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
  await p.producer.send({
    topic: p.topic,
    messages: [
      { key: acct, value: `not json ${'z'.repeat(3000)}`, partition: 1 },
      ceRecord(
        p.source,
        { id: `ok-${acct}`, type: 'account.credited', data: { account: acct, amount: 3 } },
        acct,
        1,
      ),
    ],
  });
  const [dead] = await eventually(
    async () => {
      const all = (await readAll(p.kafka, p.dlqTopic)).filter((r) => r.key === acct);
      return all.length === 1 && all;
    },
    60_000,
    'the dead-letter record without its value',
  );
  expect(dead?.value).toBeNull();
  expect(dead?.headers['idem-reason']).toBe('invalid_envelope');
  expect(dead?.headers['idem-value-omitted']).toMatch(/too large for the dead-letter topic/);
  expect(dead?.headers['idem-original-partition']).toBe('1');
  await eventually(async () => (await ledger(p, acct)).entries === 1, 60_000, 'the next event applied');
  await allCommitted(p);
}, 180_000);

test("Temporal's refusal of an input over its limit is classified as the event's (too_large), not retried", async () => {
  const input = testInput(
    testMessage({ type: 'account.credited', data: { account: 'a', amount: 1, pad: 'x'.repeat(2_300_000) } }),
  );
  const err = await startEventWorkflow(p.temporal, {
    workflowId: `limits-${crypto.randomUUID()}`,
    taskQueue: p.config.temporal.taskQueue,
    input,
  }).catch((e: unknown) => e);
  const rejection = startRejection(err);
  expect(rejection).toBeInstanceOf(StartRejectedError);
  expect(rejection?.reason).toBe('too_large');
  expect(rejection?.message).toMatch(/Blob data size exceeds limit/);
});
