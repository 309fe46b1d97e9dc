/** idem's search attributes: the start-up check's message, and the names and types the stack registers. */
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { formatStatus } from '../../src/cli/status';
import { formatStuck, stageLine } from '../../src/cli/stuck';
import { SEARCH_ATTRIBUTES } from '../../src/stack/temporal';
import { checkSearchAttributes } from '../../src/temporal/preflight';
import { ALL_SEARCH_ATTRIBUTES, STAGES } from '../../src/workflows/search-attributes';

const T = temporal.api.enums.v1.IndexedValueType;

function listing(customAttributes: Record<string, number>) {
  return {
    operatorService: { listSearchAttributes: () => Promise.resolve({ customAttributes }) },
  } as unknown as Pick<Connection, 'operatorService'>;
}

test('the stack registers every attribute with its type: Keyword, IdemAttempts Int', () => {
  expect(SEARCH_ATTRIBUTES).toEqual({
    IdemEventType: 'Keyword',
    IdemEventKey: 'Keyword',
    IdemSource: 'Keyword',
    IdemOutcome: 'Keyword',
    IdemStage: 'Keyword',
    IdemErrorClass: 'Keyword',
    IdemAttempts: 'Int',
  });
  expect(STAGES).toEqual([
    'retrying',
    'waiting_for_store',
    'waiting_for_claim',
    'dead_lettering',
    'dead_lettered',
    'done',
  ]);
});

test('the start-up check passes when all are there, and names each missing one with the command that creates it', async () => {
  const all = Object.fromEntries(
    ALL_SEARCH_ATTRIBUTES.map((k) => [
      k.name,
      k.name === 'IdemAttempts' ? T.INDEXED_VALUE_TYPE_INT : T.INDEXED_VALUE_TYPE_KEYWORD,
    ]),
  );
  await expect(checkSearchAttributes(listing(all), 'default')).resolves.toBeUndefined();

  const { IdemStage: _s, IdemAttempts: _a, ...older } = all;
  await expect(checkSearchAttributes(listing(older), 'prod')).rejects.toThrow(
    'Temporal namespace "prod" lacks idem\'s search attributes: IdemStage, IdemAttempts.\n' +
      'Create them once (the local stack does this itself):\n' +
      '  temporal operator search-attribute create --namespace prod --name IdemStage --type Keyword\n' +
      '  temporal operator search-attribute create --namespace prod --name IdemAttempts --type Int',
  );
});

test('an attribute of another type is refused with the way to fix it', async () => {
  const all = Object.fromEntries(ALL_SEARCH_ATTRIBUTES.map((k) => [k.name, T.INDEXED_VALUE_TYPE_KEYWORD]));
  await expect(checkSearchAttributes(listing(all), 'default')).rejects.toThrow(
    /has idem's search attributes with another type: IdemAttempts must be Int\. Remove each \(temporal operator search-attribute remove --namespace default --name <name>\)/,
  );
});

test('idem stuck shows the stage, the failed attempts and the error class when the workflow recorded them', () => {
  expect(stageLine({ stage: 'retrying', attempts: 2, errorClass: 'UpstreamTimeoutError' })).toBe(
    'stage retrying, 2 failed attempt(s), last error UpstreamTimeoutError',
  );
  const startTime = new Date('2026-12-05T08:00:00Z');
  const text = formatStuck(
    {
      olderThanMs: 30_000,
      count: 2,
      oldestAgeMs: 90_000,
      truncated: false,
      events: [
        {
          workflowId: 'event:s:1',
          runId: 'r1',
          startTime,
          ageMs: 90_000,
          stage: 'waiting_for_store',
          attempts: 0,
          errorClass: 'Error',
          outcome: 'store_unavailable',
          webUrl: 'http://web/1',
        },
        { workflowId: 'event:s:2', runId: 'r2', startTime, ageMs: 60_000, webUrl: 'http://web/2' },
      ],
    },
    'idem-events',
  );
  expect(text).toContain(
    'IdemOutcome store_unavailable\n  stage waiting_for_store, 0 failed attempt(s), last error Error\n  http://web/1',
  );
  // A workflow that has not failed yet has no stage line.
  expect(text).toContain('(started 2026-12-05T08:00:00.000Z)\n  http://web/2');
});

test('idem status counts the running workflows by stage, naming only the stages some are in', () => {
  const report = (runningByStage: Record<string, number>) =>
    formatStatus({
      at: '2026-12-05T08:00:00.000Z',
      components: [],
      workflows: {
        taskQueue: 'idem-events',
        running: 4,
        runningByStage: {
          retrying: 0,
          waiting_for_store: 0,
          waiting_for_claim: 0,
          dead_lettering: 0,
          ...runningByStage,
        },
        stuck: { olderThanMs: 300_000, count: 0, oldestAgeMs: 0 },
      },
      problems: [],
    });
  expect(report({ retrying: 2, waiting_for_store: 1 })).toContain(
    'Event workflows on task queue idem-events: 4 running (2 retrying, 1 waiting_for_store), none stuck',
  );
  expect(report({})).toContain('Event workflows on task queue idem-events: 4 running, none stuck');
});
