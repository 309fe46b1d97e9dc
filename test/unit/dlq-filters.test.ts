/** `idem dlq` filters: `--since` parsing and which entries a filter keeps. */
import { dlqHeaders, deadLetterIdOf, readDlqHeaders } from '../../src/dlq/headers';
import { collapseCopies, matches, parseSince, type DlqEntry } from '../../src/dlq/reader';
import { InvalidArgumentError, NonRetriableError } from '../../src/errors';

describe('parseSince', () => {
  const now = Date.parse('2026-11-22T12:00:00.000Z');

  test.each([
    ['45s', '2026-11-22T11:59:15.000Z'],
    ['30m', '2026-11-22T11:30:00.000Z'],
    ['2h', '2026-11-22T10:00:00.000Z'],
    ['7d', '2026-11-15T12:00:00.000Z'],
    ['0m', '2026-11-22T12:00:00.000Z'],
    [' 90 m ', '2026-11-22T10:30:00.000Z'],
  ])('%j is that long before now', (text, expected) => {
    expect(parseSince(text, now).toISOString()).toBe(expected);
  });

  test.each([
    ['2026-11-22T10:00:00Z', '2026-11-22T10:00:00.000Z'],
    ['2026-11-22T10:00:00.250+02:00', '2026-11-22T08:00:00.250Z'],
    ['2026-11-22', '2026-11-22T00:00:00.000Z'],
  ])('the ISO time %j is taken as is, whatever now is', (text, expected) => {
    expect(parseSince(text, now).toISOString()).toBe(expected);
  });

  test.each(['yesterday', '2w', 'h', '-5m', '1.5h', ''])('%j is refused with what is expected', (text) => {
    const parse = () => parseSince(text, now);
    expect(parse).toThrow(InvalidArgumentError);
    expect(parse).toThrow(NonRetriableError);
    expect(parse).toThrow(
      `--since ${JSON.stringify(text)}: expected an ISO time (2026-11-22T10:00:00Z) or a duration (30m, 2h, 7d)`,
    );
  });
});

describe('matches', () => {
  const entry: DlqEntry = {
    dlqTopic: 'events.dlq',
    dlqPartition: 1,
    dlqOffset: '5',
    timestamp: new Date('2026-11-22T10:00:00Z'),
    key: null,
    value: Buffer.from('{}'),
    headers: {},
    copies: 1,
    info: { reason: 'handler_failed', error: 'boom', attempts: 3, eventType: 'account.credited' },
  };

  test('an empty filter keeps every entry', () => {
    expect(matches(entry, {})).toBe(true);
  });

  test('by reason: only that idem-reason', () => {
    expect(matches(entry, { reason: 'handler_failed' })).toBe(true);
    expect(matches(entry, { reason: 'unknown_type' })).toBe(false);
  });

  test('by id: only the event with that CloudEvents id', () => {
    const withId: DlqEntry = { ...entry, info: { ...entry.info, cloudEventId: 'e-1' } };
    expect(matches(withId, { id: 'e-1' })).toBe(true);
    expect(matches(withId, { id: 'e-2' })).toBe(false);
    expect(matches(entry, { id: 'e-1' })).toBe(false);
  });

  test('by type: only that event type; an entry without one never matches a type', () => {
    expect(matches(entry, { type: 'account.credited' })).toBe(true);
    expect(matches(entry, { type: 'account.debited' })).toBe(false);
    const untyped: DlqEntry = { ...entry, info: { reason: 'invalid_envelope', error: 'x', attempts: 0 } };
    expect(matches(untyped, { type: 'account.credited' })).toBe(false);
  });

  test('by since: entries dead-lettered at or after that time', () => {
    expect(matches(entry, { since: new Date('2026-11-22T09:59:59.999Z') })).toBe(true);
    expect(matches(entry, { since: new Date('2026-11-22T10:00:00.000Z') })).toBe(true);
    expect(matches(entry, { since: new Date('2026-11-22T10:00:00.001Z') })).toBe(false);
  });

  test('filters combine: every one given must hold', () => {
    const since = new Date('2026-11-22T09:00:00Z');
    expect(matches(entry, { reason: 'handler_failed', type: 'account.credited', since })).toBe(true);
    expect(matches(entry, { reason: 'handler_failed', type: 'account.debited', since })).toBe(false);
    expect(matches(entry, { reason: 'unknown_type', type: 'account.credited', since })).toBe(false);
    expect(
      matches(entry, { reason: 'handler_failed', type: 'account.credited', since: new Date('2026-11-23') }),
    ).toBe(false);
  });
});

describe('collapseCopies', () => {
  const at = (offset: string, deadLetterId: string | undefined, dlqTopic = 'events.dlq'): DlqEntry => ({
    dlqTopic,
    dlqPartition: 0,
    dlqOffset: offset,
    timestamp: new Date('2026-11-22T10:00:00Z'),
    key: null,
    value: null,
    headers: {},
    info: { reason: 'invalid_envelope', error: 'x', attempts: 0, ...(deadLetterId ? { deadLetterId } : {}) },
    copies: 1,
  });

  it('keeps the earliest record of each dead-lettering and counts its copies', () => {
    const out = collapseCopies([
      at('1', 'ingest:events:0:5'),
      at('2', 'run:r1'),
      at('3', 'ingest:events:0:5'), // re-read after a rebalance and rejected again
      at('4', 'run:r1'), // a deadLetter attempt retried after its publish was acked
      at('5', 'run:r2'), // a redrive that failed again: a dead-lettering of its own
      at('6', undefined), // written before the id existed
      at('7', undefined),
      at('8', 'run:r1', 'other.dlq'),
    ]);
    expect(out.map((e) => [e.dlqTopic, e.dlqOffset, e.copies])).toEqual([
      ['events.dlq', '1', 2],
      ['events.dlq', '2', 2],
      ['events.dlq', '5', 1],
      ['events.dlq', '6', 1],
      ['events.dlq', '7', 1],
      ['other.dlq', '8', 1],
    ]);
  });
});

describe('the dead-letter id', () => {
  it('names the run that dead-lettered the event, else the record rejected at ingest', () => {
    const where = { originalTopic: 'orders', originalPartition: 2, originalOffset: '41' };
    expect(deadLetterIdOf({ ...where, runId: 'abc' })).toBe('run:abc');
    expect(deadLetterIdOf(where)).toBe('ingest:orders:2:41');
    expect(
      readDlqHeaders(dlqHeaders({ reason: 'too_large', error: 'e', attempts: 0, ...where }))?.deadLetterId,
    ).toBe('ingest:orders:2:41');
  });
});
