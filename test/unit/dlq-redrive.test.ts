/**
 * Redrive's decision per dead-letter record, without any server: the records it
 * refuses (and why), and the workflow ID it would start the others under.
 */
import type { Client } from '@temporalio/client';

import { parseConfig } from '../../src/config';
import { dlqHeaders, readDlqHeaders } from '../../src/dlq/headers';
import type { DlqEntry } from '../../src/dlq/reader';
import { planRedrive, redrive, REDRIVABLE_REASONS } from '../../src/dlq/redrive';
import type { DlqReason } from '../../src/events/types';
import { redriveWorkflowIdFor, workflowIdFor } from '../../src/events/identity';

const config = parseConfig({ IDEM_CACHE_DIR: '/tmp/idem-unit' });
const limits = { maxEventBytes: config.ingest.maxEventBytes };

/** A Temporal client that fails the test if redrive touches it at all. */
const untouchable = new Proxy({} as Client, {
  get(_target, prop) {
    throw new Error(`redrive used the Temporal client (${String(prop)}) for a record it should refuse`);
  },
});

const event = {
  specversion: '1.0',
  id: 'evt-1',
  source: 'billing',
  type: 'account.credited',
  data: { amount: 5 },
};

function entry(
  reason: DlqReason,
  over: { value?: Buffer | null; headers?: Record<string, string> } = {},
): DlqEntry {
  const headers = {
    'content-type': 'application/cloudevents+json',
    ...dlqHeaders({
      reason,
      error: 'boom',
      attempts: 3,
      originalTopic: 'events',
      originalPartition: 2,
      originalOffset: '41',
      originalTimestamp: '1700000000000',
      cloudEventId: event.id,
      eventSource: event.source,
      eventType: event.type,
    }),
    ...over.headers,
  };
  return {
    dlqTopic: 'events.dlq',
    dlqPartition: 1,
    dlqOffset: '7',
    copies: 1,
    timestamp: new Date('2026-11-22T10:00:00Z'),
    key: Buffer.from('account-9'),
    value: over.value === undefined ? Buffer.from(JSON.stringify(event)) : over.value,
    headers,
    info: readDlqHeaders(headers)!,
  };
}

/** An entry whose info lacks one of the original coordinates (written by another tool). */
function without(field: 'originalTopic' | 'originalPartition' | 'originalOffset'): DlqEntry {
  const e = entry('handler_failed');
  const info = { ...e.info };
  delete info[field];
  return { ...e, info };
}

describe('not redrivable', () => {
  const rejectedAtIngest: DlqReason[] = ['invalid_envelope', 'invalid_utf8', 'too_large'];

  test.each(rejectedAtIngest)('a record rejected at ingest (%s) is bad in itself', async (reason) => {
    const e = entry(reason);
    const [item] = await redrive(untouchable, config, [e], {});
    expect(item).toEqual({
      entry: e,
      status: 'not_redrivable',
      detail: `${reason}: the record itself is bad; fix and re-publish it at the source`,
    });
  });

  test('a reason this version does not know is not redriven either', () => {
    const e = entry('handler_failed');
    const plan = planRedrive({ ...e, info: { ...e.info, reason: 'poison_pill' } }, limits);
    expect(plan).toMatchObject({
      redrivable: false,
      item: {
        status: 'not_redrivable',
        detail: expect.stringMatching(/^poison_pill: the record itself is bad/),
      },
    });
  });

  test.each([
    ['no value', { ...entry('handler_failed'), value: null }],
    ['no original topic', without('originalTopic')],
    ['no original partition', without('originalPartition')],
    ['no original offset', without('originalOffset')],
  ])('a record with %s cannot be put back together', async (_what, e) => {
    const [item] = await redrive(untouchable, config, [e], {});
    expect(item).toEqual({
      entry: e,
      status: 'not_redrivable',
      detail: 'dead-letter record lacks its original value or coordinates',
    });
  });

  test('a record whose bytes no longer parse says why', async () => {
    const e = entry('handler_failed', { value: Buffer.from('{"id": "evt-1", "type": ') });
    const [item] = await redrive(untouchable, config, [e], {});
    expect(item?.status).toBe('not_redrivable');
    expect(item?.detail).toMatch(/^invalid_envelope: /);
  });

  test('a record now over the size limit says so', () => {
    const plan = planRedrive(entry('unknown_type'), { maxEventBytes: 10 });
    expect(plan).toMatchObject({
      redrivable: false,
      item: { status: 'not_redrivable', detail: expect.stringMatching(/^too_large: /) },
    });
  });

  test('every refused record is reported, in order, and none reaches Temporal', async () => {
    const entries = [entry('invalid_envelope'), without('originalOffset'), entry('too_large')];
    const seen: string[] = [];
    const items = await redrive(untouchable, config, entries, { onItem: (i) => seen.push(i.status) });
    expect(items.map((i) => i.entry)).toEqual(entries);
    expect(seen).toEqual(['not_redrivable', 'not_redrivable', 'not_redrivable']);
  });
});

describe('redrivable', () => {
  test('exactly the reasons found after a workflow ran', () => {
    expect([...REDRIVABLE_REASONS].sort()).toEqual([
      'cancelled',
      'handler_failed',
      'invalid_payload',
      'terminated',
      'unknown_type',
    ]);
  });

  test.each([...REDRIVABLE_REASONS])(
    '%s: the event is parsed again under a redrive ID of this dead-letter record',
    (reason) => {
      const plan = planRedrive(entry(reason as DlqReason), limits);
      if (!plan.redrivable) throw new Error(`expected a redrivable plan, got ${plan.item.detail}`);
      expect(plan.workflowId).toBe(redriveWorkflowIdFor(workflowIdFor('billing', 'evt-1'), 1, '7'));
      expect(plan.event).toMatchObject({ id: 'evt-1', source: 'billing', type: 'account.credited' });
      expect(plan.event.data).toEqual({ amount: 5 });
      // The original coordinates, not the dead-letter record's, and no idem-* header of the DLQ copy.
      expect(plan.raw).toMatchObject({
        topic: 'events',
        partition: 2,
        offset: '41',
        timestamp: '1700000000000',
      });
      expect(Object.keys(plan.raw.headers)).toEqual(['content-type']);
    },
  );

  test('a real redrive does reach Temporal (so the refusals above are no accident of the stub)', async () => {
    await expect(redrive(untouchable, config, [entry('handler_failed')], {})).rejects.toThrow(
      /redrive used the Temporal client/,
    );
  });

  test('a dry run names the workflow it would start, without Temporal', async () => {
    const e = entry('handler_failed');
    const [item] = await redrive(untouchable, config, [e], { dryRun: true });
    expect(item).toEqual({
      entry: e,
      status: 'would_start',
      workflowId: redriveWorkflowIdFor(workflowIdFor('billing', 'evt-1'), 1, '7'),
    });
  });
});
