/** `idem audit`'s decisions without servers: each offset's outcome from its facts, what the
 * dead-letter topic settles, the store against the dead-letter topic, ranges, duplicate causes. */
import { classifyRecord, resolvePending, type Pending, type RecordFacts } from '../../src/audit/classify';
import { checkDeadLetterings } from '../../src/audit/consistency';
import { buildDlqIndex, type DlqIndex } from '../../src/audit/dlq-index';
import { causeOf, DuplicateCauses, fingerprint } from '../../src/audit/duplicates';
import { planPartition } from '../../src/audit/ranges';
import { formatReport } from '../../src/audit/render';
import { Tally } from '../../src/audit/tally';
import type { AuditReport } from '../../src/audit/types';
import { dlqHeaders, readDlqHeaders } from '../../src/dlq/headers';
import type { DlqEntry } from '../../src/dlq/reader';
import { workflowIdFor } from '../../src/events/identity';
import type { ProcessedSummary } from '../../src/store/sql/find-processed';

const KEY = workflowIdFor('src', 'e-1');
const at = (offset: string, partition = 0, topic = 't') => ({ topic, partition, offset });

function row(over: Partial<ProcessedSummary> = {}): ProcessedSummary {
  return {
    dedupKey: KEY,
    status: 'applied',
    kafkaTopic: 't',
    kafkaPartition: 0,
    kafkaOffset: '5',
    workflowId: KEY,
    runId: 'run-a',
    deadLetteredCount: 0,
    redriveCount: 0,
    processedAt: new Date(0),
    ...over,
  };
}

function facts(over: Partial<RecordFacts> = {}): RecordFacts {
  return { at: at('5'), consumed: true, event: { dedupKey: KEY, type: 'account.credited' }, ...over };
}

/** A dead-letter record as idem writes it, read back. */
function dlqEntry(
  fields: Partial<Parameters<typeof dlqHeaders>[0]> & { dlqOffset?: string },
  copies = 1,
): DlqEntry {
  const headers = dlqHeaders({
    reason: 'handler_failed',
    error: 'boom',
    attempts: 3,
    originalTopic: 't',
    originalPartition: 0,
    originalOffset: '5',
    ...fields,
  });
  return {
    dlqTopic: 't.dlq',
    dlqPartition: 0,
    dlqOffset: fields.dlqOffset ?? '0',
    timestamp: new Date(0),
    key: null,
    value: Buffer.from('{}'),
    headers,
    info: readDlqHeaders(headers)!,
    copies,
  };
}

const runDeadLettering = (runId: string, offset = '5') =>
  dlqEntry({ runId, workflowId: KEY, cloudEventId: 'e-1', eventSource: 'src', originalOffset: offset });

const noDlq = buildDlqIndex([]);
const nothingRunning = () => false;

describe('classifyRecord: one offset from its facts', () => {
  test('the row is applied and names this offset: applied', () => {
    expect(classifyRecord(facts({ row: row() }))).toEqual({ verdict: { class: 'applied' } });
  });

  test('the row names another offset: a duplicate of it, applied or dead-lettered', () => {
    expect(classifyRecord(facts({ at: at('9'), row: row() }))).toEqual({
      verdict: { class: 'duplicate', duplicateOf: at('5'), detail: 'a copy of an applied event' },
    });
    expect(classifyRecord(facts({ at: at('1', 2), row: row({ status: 'dead_lettered' }) }))).toEqual({
      verdict: { class: 'duplicate', duplicateOf: at('5'), detail: 'a copy of a dead-lettered event' },
    });
    // Another topic is another record too.
    expect(classifyRecord(facts({ at: at('5', 0, 'u'), row: row() }))).toMatchObject({
      verdict: { class: 'duplicate' },
    });
  });

  test('the row is dead-lettered at this offset: the dead-letter topic decides', () => {
    expect(classifyRecord(facts({ row: row({ status: 'dead_lettered', workflowId: 'wf' }) }))).toEqual({
      pending: { kind: 'dead_lettered_row', at: at('5'), dedupKey: KEY, workflowId: 'wf' },
    });
  });

  test('parked at this offset: parked; parked at another: a duplicate of it', () => {
    expect(classifyRecord(facts({ parked: at('5') }))).toMatchObject({ verdict: { class: 'parked' } });
    expect(classifyRecord(facts({ parked: at('3') }))).toMatchObject({
      verdict: { class: 'duplicate', duplicateOf: at('3') },
    });
  });

  test('a row wins over a parked record (released, applied, its parked record not deleted yet)', () => {
    expect(classifyRecord(facts({ row: row(), parked: at('5') }))).toEqual({ verdict: { class: 'applied' } });
  });

  test('no row, not parked, past the committed offset: not yet consumed, without asking Temporal', () => {
    expect(classifyRecord(facts({ consumed: false }))).toEqual({ verdict: { class: 'not_yet_consumed' } });
  });

  test('no row, not parked, consumed: asks for the workflow, then in progress while it is open', () => {
    expect(classifyRecord(facts())).toEqual({ needsWorkflow: true });
    expect(classifyRecord(facts({ workflow: 'RUNNING' }))).toEqual({ verdict: { class: 'in_progress' } });
    expect(classifyRecord(facts({ workflow: 'PAUSED' }))).toEqual({ verdict: { class: 'in_progress' } });
  });

  test('no row and a closed (or missing) workflow: the dead-letter topic decides', () => {
    expect(classifyRecord(facts({ workflow: 'TERMINATED' }))).toEqual({
      pending: { kind: 'no_outcome', at: at('5'), dedupKey: KEY, workflow: 'TERMINATED' },
    });
  });

  test('a record the parse rejects: the dead-letter topic decides, consumed or not', () => {
    const rejected = {
      at: at('7'),
      consumed: false,
      rejection: { reason: 'invalid_envelope', error: 'not JSON' },
    };
    expect(classifyRecord(rejected)).toEqual({
      pending: {
        kind: 'rejected',
        at: at('7'),
        consumed: false,
        reason: 'invalid_envelope',
        error: 'not JSON',
      },
    });
  });
});

describe('resolvePending: what the dead-letter topic settles', () => {
  const rejected = (consumed: boolean): Pending => ({
    kind: 'rejected',
    at: at('7'),
    consumed,
    reason: 'invalid_envelope',
    error: 'not JSON',
  });
  const ingestRecord = buildDlqIndex([
    dlqEntry({ reason: 'invalid_envelope', attempts: 0, originalOffset: '7' }),
  ]);

  test('rejected at ingest with its record ingest:<topic>:<p>:<o>: dead-lettered', () => {
    expect(ingestRecord.ingestAt(at('7'))).toBe(true);
    expect(resolvePending(rejected(true), ingestRecord, nothingRunning)).toEqual({
      class: 'dead_lettered',
      detail: 'rejected at ingest: invalid_envelope',
    });
  });

  test('rejected without a record: unaccounted when consumed, not yet consumed otherwise', () => {
    expect(resolvePending(rejected(true), noDlq, nothingRunning)).toEqual({
      class: 'unaccounted',
      detail:
        'rejected at ingest (invalid_envelope: not JSON), but the dead-letter topic holds no record ingest:t:0:7',
    });
    expect(resolvePending(rejected(false), noDlq, nothingRunning)).toEqual({ class: 'not_yet_consumed' });
  });

  test('an ingest record at other coordinates does not count', () => {
    const other = buildDlqIndex([dlqEntry({ reason: 'invalid_envelope', attempts: 0, originalOffset: '8' })]);
    expect(resolvePending(rejected(true), other, nothingRunning).class).toBe('unaccounted');
  });

  test('no row, workflow closed: dead-lettered at ingest (Temporal refused it), else unaccounted', () => {
    const p: Pending = { kind: 'no_outcome', at: at('7'), dedupKey: KEY, workflow: 'NOT_FOUND' };
    expect(resolvePending(p, ingestRecord, nothingRunning).class).toBe('dead_lettered');
    expect(resolvePending(p, noDlq, nothingRunning)).toEqual({
      class: 'unaccounted',
      detail: 'no processed_events row, workflow not found, not parked, no dead-letter record',
    });
    expect(resolvePending({ ...p, workflow: 'TERMINATED' }, noDlq, nothingRunning).detail).toContain(
      'workflow TERMINATED',
    );
  });

  test('a dead-lettered row: dead-lettered with its record; in progress while its run publishes; else unaccounted', () => {
    const p: Pending = { kind: 'dead_lettered_row', at: at('5'), dedupKey: KEY, workflowId: 'wf' };
    expect(resolvePending(p, buildDlqIndex([runDeadLettering('run-a')]), nothingRunning)).toEqual({
      class: 'dead_lettered',
    });
    expect(resolvePending(p, noDlq, (id) => id === 'wf')).toEqual({
      class: 'in_progress',
      detail: 'being dead-lettered',
    });
    expect(resolvePending(p, noDlq, nothingRunning).class).toBe('unaccounted');
  });
});

describe('buildDlqIndex', () => {
  test('copies of one dead-lettering count once; runs apart; records without an id each once', () => {
    const noId = (runId: string, dlqOffset: string) => {
      const e = runDeadLettering(runId);
      delete e.info.deadLetterId;
      return { ...e, dlqOffset };
    };
    const index: DlqIndex = buildDlqIndex([
      runDeadLettering('run-a'),
      runDeadLettering('run-a'),
      runDeadLettering('run-b'),
      noId('run-c', '4'),
    ]);
    expect([...index.deadLetterings(KEY)].sort()).toEqual(['run:run-a', 'run:run-b', 'run:run-c']);
    expect(index.deadLetterings('event:other:1').size).toBe(0);
    expect([...index.deadLetteredEvents()]).toEqual([{ dedupKey: KEY, at: at('5') }]);
    expect(index.ingestAt(at('5'))).toBe(false);
  });
});

describe('checkDeadLetterings: no effect applied twice, as the store and the dead-letter topic tell it', () => {
  const ids = (...runs: string[]) => new Set(runs.map((r) => `run:${r}`));
  const checks = (r: ProcessedSummary, found: Set<string>) =>
    checkDeadLetterings(r, found).map((v) => v.check);

  test('consistent stories find nothing', () => {
    expect(checks(row(), ids())).toEqual([]);
    expect(checks(row({ status: 'dead_lettered', deadLetteredCount: 1 }), ids('a'))).toEqual([]);
    // dead-lettered, redriven, failed again, redriven again and applied
    expect(checks(row({ deadLetteredCount: 2, redriveCount: 1 }), ids('a', 'b'))).toEqual([]);
  });

  test('applied without a redrive, yet dead-lettered', () => {
    expect(checks(row(), ids('a'))).toEqual(['applied_without_redrive', 'extra_dead_letterings']);
    expect(checks(row({ deadLetteredCount: 1 }), ids('a'))).toEqual(['applied_without_redrive']);
  });

  test('more dead-letterings in the topic than the store counted, or fewer', () => {
    expect(checks(row({ status: 'dead_lettered', deadLetteredCount: 1 }), ids('a', 'b'))).toEqual([
      'extra_dead_letterings',
    ]);
    expect(checks(row({ status: 'dead_lettered', deadLetteredCount: 3 }), ids('a'))).toEqual([
      'missing_dead_letterings',
    ]);
  });

  test('a redrive count no dead-lettering explains', () => {
    expect(checks(row({ redriveCount: 1 }), ids())).toEqual(['redrive_count_inconsistent']);
    expect(checks(row({ redriveCount: 2, deadLetteredCount: 2 }), ids('a', 'b'))).toEqual([
      'redrive_count_inconsistent',
    ]);
    expect(checks(row({ status: 'dead_lettered', redriveCount: 1, deadLetteredCount: 1 }), ids('a'))).toEqual(
      ['redrive_count_inconsistent'],
    );
  });

  test('each finding names the event', () => {
    expect(checkDeadLetterings(row(), ids('a'))[0]).toMatchObject({ dedupKey: KEY });
  });
});

describe('planPartition: which offsets are read', () => {
  const p = { topic: 't', partition: 0, low: 10n, high: 100n };

  test('from the log start up to the committed offset; the rest not yet consumed', () => {
    expect(planPartition({ ...p, committed: 60n }, false)).toMatchObject({
      start: 10n,
      end: 60n,
      unread: 40n,
    });
  });

  test('--to-end reads everything', () => {
    expect(planPartition({ ...p, committed: 60n }, true)).toMatchObject({
      start: 10n,
      end: 100n,
      unread: 0n,
    });
  });

  test('no committed offset: nothing consumed, nothing read', () => {
    expect(planPartition(p, false)).toMatchObject({ start: 10n, end: 10n, unread: 90n });
    expect(planPartition(p, false).committed).toBeUndefined();
  });

  test('--since: from its offset, never before the log start nor past the end', () => {
    expect(planPartition({ ...p, committed: 60n, sinceOffset: 30n }, false)).toMatchObject({
      start: 30n,
      end: 60n,
    });
    expect(planPartition({ ...p, committed: 60n, sinceOffset: 70n }, false)).toMatchObject({
      start: 70n,
      end: 70n,
      unread: 30n,
    });
    expect(planPartition({ ...p, committed: 60n, sinceOffset: 2n }, false).start).toBe(10n);
    expect(planPartition({ ...p, sinceOffset: 500n }, true)).toMatchObject({ start: 100n, end: 100n });
  });

  test('a committed offset before the log start (records deleted by retention) reads nothing', () => {
    expect(planPartition({ ...p, committed: 5n }, false)).toMatchObject({ start: 10n, end: 10n });
  });
});

describe('duplicate causes', () => {
  const m = (over: object = {}) => ({
    key: Buffer.from('k'),
    value: Buffer.from('{"id":"1"}'),
    headers: { b: Buffer.from('2'), a: '1' },
    timestamp: '1000',
    ...over,
  });

  test('same bytes and timestamp: a producer retry; later timestamp: sent again; other bytes: other content', () => {
    const original = fingerprint(m());
    expect(causeOf(fingerprint(m()), original)).toBe('producer_retry');
    expect(causeOf(fingerprint(m({ timestamp: '2000' })), original)).toBe('sent_again');
    expect(causeOf(fingerprint(m({ value: Buffer.from('{"id":"1","x":1}') })), original)).toBe(
      'other_content',
    );
    expect(causeOf(fingerprint(m()), undefined)).toBe('not_read');
  });

  test('header order does not matter; a header value does; null and empty differ', () => {
    expect(fingerprint(m({ headers: { a: '1', b: '2' } })).content).toBe(fingerprint(m()).content);
    expect(fingerprint(m({ headers: { a: '1', b: '3' } })).content).not.toBe(fingerprint(m()).content);
    expect(fingerprint(m({ key: null })).content).not.toBe(fingerprint(m({ key: Buffer.alloc(0) })).content);
  });

  test('counted once everything is read, whichever came first', () => {
    const causes = new DuplicateCauses();
    causes.duplicate(at('5'), fingerprint(m()));
    causes.original(at('5'), fingerprint(m()));
    causes.duplicate(at('8'), fingerprint(m()));
    expect(causes.causes()).toEqual({ producer_retry: 1, sent_again: 0, other_content: 0, not_read: 1 });
  });
});

describe('Tally and the report', () => {
  test('counts per partition and in total; details up to the limit', () => {
    const tally = new Tally(1);
    tally.add(at('0'), { class: 'applied' });
    tally.add(at('1'), { class: 'unaccounted', detail: 'why' }, KEY);
    tally.add(at('2', 1), { class: 'unaccounted', detail: 'why not' });
    tally.unread('t', 1, 3);
    tally.violation({ check: 'x', detail: 'd', by: 'idem', at: at('0') });
    expect(tally.partition('t', 0)).toMatchObject({
      records: 2,
      applied: 1,
      unaccounted: 1,
      doubleEffects: 1,
    });
    expect(tally.partition('t', 1)).toMatchObject({ records: 4, unaccounted: 1, not_yet_consumed: 3 });
    expect(tally.total).toMatchObject({ records: 6, applied: 1, unaccounted: 2, not_yet_consumed: 3 });
    expect(tally.unaccounted).toEqual([{ ...at('1'), dedupKey: KEY, detail: 'why' }]);
  });

  test('the text report has the table, the details and the verdict', () => {
    const tally = new Tally(20);
    tally.add(at('0'), { class: 'applied' });
    tally.add(at('1'), { class: 'unaccounted', detail: 'no processed_events row' }, KEY);
    const report: AuditReport = {
      ok: false,
      groupId: 'g',
      topics: ['t'],
      toEnd: false,
      partitions: [
        {
          topic: 't',
          partition: 0,
          start: '0',
          end: '2',
          committed: '2',
          high: '2',
          ...tally.partition('t', 0),
        },
      ],
      total: tally.total,
      duplicateCauses: { producer_retry: 0, sent_again: 0, other_content: 0, not_read: 0 },
      unaccounted: tally.unaccounted,
      violations: [],
      handlerChecks: 'none: no handler module (--handlers or IDEM_HANDLERS)',
      elapsedMs: 1200,
    };
    const text = formatReport(report);
    expect(text).toContain('double effects');
    expect(text).toMatch(/t\[0\] 0\.\.2 +2 +1 +0/);
    expect(text).toContain(`t[0]@1  ${KEY}  no processed_events row`);
    expect(text).toMatch(/FAILED: 1 unaccounted offset\(s\), 0 double effect\(s\)$/);
    expect(formatReport({ ...report, ok: true })).toMatch(/^OK: every offset is accounted for/m);
  });
});

test('a violation of one event found twice (its copies in two batches) counts once', () => {
  const tally = new Tally(20);
  const v = { check: 'ledger_entry_missing', dedupKey: KEY, detail: 'd', by: 'examples/ledger' };
  tally.violation(v);
  tally.violation({ ...v, at: at('9') });
  tally.violation({ ...v, check: 'other' });
  tally.violation({ check: 'balance_mismatch', detail: 'a', by: 'examples/ledger' });
  tally.violation({ check: 'balance_mismatch', detail: 'b', by: 'examples/ledger' });
  expect(tally.total.doubleEffects).toBe(4);
});
