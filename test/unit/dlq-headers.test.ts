/** The dead-letter header contract: what dlqHeaders writes, readDlqHeaders reads back. */
import fc from 'fast-check';
import type { IHeaders } from 'kafkajs';

import {
  DLQ_HEADERS,
  MAX_DLQ_ERROR_LENGTH,
  dlqHeaders,
  readDlqHeaders,
  withoutDlqHeaders,
  deadLetterIdOf,
  type DlqHeaderFields,
} from '../../src/dlq/headers';

const full: DlqHeaderFields = {
  reason: 'handler_failed',
  error: 'PermanentHandlerError: account 7 is closed — é 😀',
  attempts: 3,
  originalTopic: 'events',
  originalPartition: 4,
  originalOffset: '9007199254740993',
  originalTimestamp: '1700000000000',
  workflowId: 'event:billing:42',
  runId: 'run-1',
  deadLetteredAt: new Date('2026-11-22T10:00:00.123Z'),
  cloudEventId: '42',
  eventSource: 'billing',
  eventType: 'account.credited',
  deadLetterId: 'run:run-1',
};

/** As kafkajs hands headers over when reading: every value a Buffer. */
function asRead(headers: Record<string, string>): IHeaders {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v, 'utf8')]));
}

test('every field written comes back the same, from Buffer values', () => {
  expect(readDlqHeaders(asRead(dlqHeaders(full)))).toEqual(full);
});

test('a header sent twice arrives as an array; the first value is the one read', () => {
  const read = asRead(dlqHeaders(full));
  read[DLQ_HEADERS.reason] = [Buffer.from('unknown_type'), 'handler_failed'];
  read[DLQ_HEADERS.attempts] = ['5', Buffer.from('3')];
  expect(readDlqHeaders(read)).toEqual({ ...full, reason: 'unknown_type', attempts: 5 });
});

test('string values (as written, before any broker) read the same as Buffers', () => {
  expect(readDlqHeaders(dlqHeaders(full))).toEqual(full);
});

test('optional fields left out are absent when read back, not empty', () => {
  const minimal: DlqHeaderFields = {
    reason: 'invalid_envelope',
    error: 'not JSON',
    attempts: 0,
    originalTopic: 'events',
    originalPartition: 0,
    originalOffset: '0',
    deadLetteredAt: new Date('2026-01-01T00:00:00Z'),
  };
  const written = dlqHeaders(minimal);
  // The one header always derived when not given: the dead-lettering's id.
  const read = { ...minimal, deadLetterId: 'ingest:events:0:0' };
  expect(Object.keys(written).sort()).toEqual(
    [
      DLQ_HEADERS.reason,
      DLQ_HEADERS.error,
      DLQ_HEADERS.attempts,
      DLQ_HEADERS.originalTopic,
      DLQ_HEADERS.originalPartition,
      DLQ_HEADERS.originalOffset,
      DLQ_HEADERS.deadLetteredAt,
      DLQ_HEADERS.deadLetterId,
    ].sort(),
  );
  expect(readDlqHeaders(asRead(written))).toEqual(read);
});

test('the round trip holds for any text in the string fields', () => {
  const text = fc.string({ unit: 'binary', maxLength: 50 });
  fc.assert(
    fc.property(
      text,
      text,
      fc.nat(),
      fc.integer({ min: 0, max: 0x7fffffff }),
      text,
      text,
      (error, topic, attempts, partition, offset, eventType) => {
        const f: DlqHeaderFields = {
          reason: 'unknown_type',
          error,
          attempts,
          originalTopic: topic,
          originalPartition: partition,
          originalOffset: offset,
          deadLetteredAt: new Date(0),
          eventType,
        };
        expect(readDlqHeaders(asRead(dlqHeaders(f)))).toEqual({ ...f, deadLetterId: deadLetterIdOf(f) });
      },
    ),
  );
});

test('a record without idem-reason is not a dead-letter record', () => {
  const { [DLQ_HEADERS.reason]: _reason, ...rest } = dlqHeaders(full);
  expect(readDlqHeaders(asRead(rest))).toBeUndefined();
  expect(readDlqHeaders(undefined)).toBeUndefined();
  expect(readDlqHeaders({})).toBeUndefined();
});

test('malformed numbers and dates from another writer are dropped, attempts falls back to 0', () => {
  const info = readDlqHeaders({
    [DLQ_HEADERS.reason]: 'something_new',
    [DLQ_HEADERS.attempts]: 'three',
    [DLQ_HEADERS.originalPartition]: '1.5',
    [DLQ_HEADERS.deadLetteredAt]: 'yesterday',
  });
  expect(info).toEqual({ reason: 'something_new', error: '', attempts: 0 });
});

describe('idem-error truncation', () => {
  const errorOf = (error: string) => dlqHeaders({ ...full, error })[DLQ_HEADERS.error]!;

  test('an error of exactly the limit is kept whole', () => {
    const e = 'x'.repeat(MAX_DLQ_ERROR_LENGTH);
    expect(errorOf(e)).toBe(e);
  });

  test('a longer error is cut to the limit, ending in an ellipsis', () => {
    const cut = errorOf('y'.repeat(MAX_DLQ_ERROR_LENGTH + 1));
    expect(MAX_DLQ_ERROR_LENGTH).toBe(1000);
    expect(cut).toHaveLength(MAX_DLQ_ERROR_LENGTH);
    expect(cut).toBe(`${'y'.repeat(MAX_DLQ_ERROR_LENGTH - 1)}…`);
  });

  test('the cut never splits a surrogate pair', () => {
    // The pair's high surrogate would be the last character kept: it goes, with its low half.
    const e = `${'z'.repeat(MAX_DLQ_ERROR_LENGTH - 2)}😀${'z'.repeat(10)}`;
    const cut = errorOf(e);
    expect(cut).toBe(`${'z'.repeat(MAX_DLQ_ERROR_LENGTH - 2)}…`);
    expect(Buffer.from(cut, 'utf8').toString('utf8')).toBe(cut);
  });

  test('for any position of astral characters, the cut is well-formed text within the limit', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 600, maxLength: 1200 }), (e) => {
        const cut = errorOf(e);
        expect(cut.length).toBeLessThanOrEqual(MAX_DLQ_ERROR_LENGTH);
        expect(Buffer.from(cut, 'utf8').toString('utf8')).toBe(cut);
        if (e.length <= MAX_DLQ_ERROR_LENGTH) expect(cut).toBe(e);
        else expect(e.startsWith(cut.slice(0, -1))).toBe(true);
      }),
    );
  });
});

describe('withoutDlqHeaders', () => {
  test('drops idem-* headers whatever their case, keeps every other header', () => {
    const headers = {
      'idem-reason': 'handler_failed',
      'IDEM-ERROR': 'boom',
      'Idem-Attempts': '3',
      'content-type': 'application/cloudevents+json',
      ce_id: Buffer.from('42'),
      'x-idem-trace': 'kept: idem- is not its prefix',
    };
    expect(withoutDlqHeaders(headers)).toEqual({
      'content-type': 'application/cloudevents+json',
      ce_id: Buffer.from('42'),
      'x-idem-trace': 'kept: idem- is not its prefix',
    });
  });

  test('a redriven record dead-lettered again carries only the new idem-* headers', () => {
    const stale = dlqHeaders(full);
    const fresh: DlqHeaderFields = {
      reason: 'invalid_payload',
      error: 'amount must be positive',
      attempts: 1,
      originalTopic: 'events',
      originalPartition: 4,
      originalOffset: '7',
      deadLetteredAt: new Date('2026-12-01T00:00:00Z'),
      deadLetterId: 'ingest:events:4:7',
    };
    const headers = { ...withoutDlqHeaders({ ...stale, ce_id: '42' }), ...dlqHeaders(fresh) };
    // Nothing of the first dead-lettering (its run ID, workflow ID, event type) survives.
    expect(readDlqHeaders(headers)).toEqual(fresh);
    expect(headers.ce_id).toBe('42');
  });
});
