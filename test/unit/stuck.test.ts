/**
 * The stuck-event scanner's query and its search for the oldest start when more workflows are
 * stuck than it lists. The visibility answers come from a small in-memory stand-in that evaluates
 * only the StartTime bounds the search adds; the real server's answers are covered by
 * test/integration/monitoring.test.ts.
 */
import type { Client } from '@temporalio/client';
import { findStuck, runningQuery, stuckQuery, workflowWebUrl } from '../../src/observability/stuck';

test('the query: this task queue’s running event workflows past the threshold, or in an outage', () => {
  expect(stuckQuery('idem-events', new Date('2026-11-24T10:00:00.000Z'))).toBe(
    'WorkflowType = "processEvent" AND TaskQueue = "idem-events" AND ExecutionStatus = "Running" ' +
      'AND (StartTime < "2026-11-24T10:00:00.000Z" OR IdemOutcome = "store_unavailable")',
  );
  expect(runningQuery('a"b\\c')).toBe(
    'WorkflowType = "processEvent" AND TaskQueue = "a\\"b\\\\c" AND ExecutionStatus = "Running"',
  );
});

test('Temporal Web links encode the workflow ID', () => {
  expect(workflowWebUrl('http://127.0.0.1:28233/', 'default', 'event:src/x:e 1', 'r-1')).toBe(
    'http://127.0.0.1:28233/namespaces/default/workflows/event%3Asrc%2Fx%3Ae%201/r-1/history',
  );
});

/** Visibility over `starts` (ms), newest first as the SQL visibility store lists running ones. */
function fakeVisibility(starts: number[]) {
  const counts: string[] = [];
  const matching = (query: string) => {
    const bound = / AND StartTime < "([^"]+)"$/.exec(query);
    const before = bound ? Date.parse(bound[1] as string) : Infinity;
    return starts.filter((s) => s < before).sort((a, b) => b - a);
  };
  const client = {
    workflow: {
      async *list({ query }: { query: string }) {
        for (const s of matching(query))
          yield {
            workflowId: `event:s:${s}`,
            runId: `run-${s}`,
            startTime: new Date(s),
            typedSearchAttributes: { get: () => undefined },
          };
      },
      count(query: string) {
        counts.push(query);
        return Promise.resolve({ count: matching(query).length, groups: [] });
      },
    },
  } as unknown as Client;
  return { client, counts };
}

const base = { taskQueue: 'q', namespace: 'default', webUrl: 'http://web', olderThanMs: 300_000 };

test('few stuck: listed in full, the oldest exact, no count asked', async () => {
  const now = Date.parse('2026-11-24T12:00:00Z');
  const { client, counts } = fakeVisibility([now - 400_000, now - 3_600_000, now - 310_000]);
  const r = await findStuck(client, { ...base, now, limit: 2 });
  expect(r).toMatchObject({ count: 3, oldestAgeMs: 3_600_000, truncated: false });
  expect(r.events.map((e) => e.ageMs)).toEqual([3_600_000, 400_000]);
  expect(r.events[0]?.webUrl).toBe(
    `http://web/namespaces/default/workflows/event%3As%3A${now - 3_600_000}/run-${now - 3_600_000}/history`,
  );
  expect(counts).toEqual([]);
});

test('more stuck than listed: the count from visibility, the oldest found by counts within 1 %', async () => {
  const now = Date.parse('2026-11-24T12:00:00Z');
  const oldest = now - 3 * 86_400_000 - 4_321_000;
  const starts = [oldest, ...Array.from({ length: 50 }, (_, i) => now - 400_000 - i * 1000)];
  const { client, counts } = fakeVisibility(starts);
  const r = await findStuck(client, { ...base, now, listLimit: 10, limit: 5 });
  expect(r.truncated).toBe(true);
  expect(r.count).toBe(51);
  expect(r.events).toHaveLength(5);
  expect(Math.abs(r.oldestAgeMs - (now - oldest))).toBeLessThanOrEqual((now - oldest) / 100);
  expect(counts.length).toBeLessThan(40);
});
