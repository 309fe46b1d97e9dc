import { metricValue } from '../../src/bench/idem-process';
import { planStream, toMessage, type StreamSpec } from '../../src/bench/ledger-events';

const spec = (over: Partial<StreamSpec> = {}): StreamSpec => ({
  events: 1000,
  duplicateShare: 0,
  keys: 100,
  hotKeys: 0,
  payloadBytes: 256,
  source: 'bench-test',
  ...over,
});

test('a unique stream has one record per event, spread over the keys', () => {
  const s = planStream(spec());
  expect(s).toHaveLength(1000);
  expect(new Set(s.map((e) => e.id)).size).toBe(1000);
  expect(s.every((e) => !e.duplicate)).toBe(true);
  expect(new Set(s.map((e) => e.account)).size).toBeGreaterThan(90);
});

test.each([0.5, 0.9])('a %s duplicate share repeats only events sent before', (share) => {
  const s = planStream(spec({ duplicateShare: share }));
  expect(s).toHaveLength(1000);
  expect(s.filter((e) => !e.duplicate)).toHaveLength(Math.round(1000 * (1 - share)));
  const seen = new Set<string>();
  for (const e of s) {
    if (e.duplicate) expect(seen.has(e.id)).toBe(true);
    else {
      expect(seen.has(e.id)).toBe(false);
      seen.add(e.id);
    }
  }
  // Duplicates are spread through the stream, not bunched at its end.
  const firstHalfDups = s.slice(0, 500).filter((e) => e.duplicate).length;
  expect(firstHalfDups).toBeGreaterThan(1000 * share * 0.3);
});

test('hot keys put every event on a few accounts; the same spec gives the same stream', () => {
  const s = planStream(spec({ hotKeys: 8 }));
  expect(new Set(s.map((e) => e.account)).size).toBe(8);
  expect(planStream(spec({ hotKeys: 8 }))).toEqual(s);
});

test('a record is a structured CloudEvent keyed by account, padded to the payload size', () => {
  const [ev] = planStream(spec({ events: 1 }));
  const m = toMessage(ev!, spec({ payloadBytes: 400 }));
  expect(m.key).toBe(ev!.account);
  expect(Buffer.byteLength(String(m.value))).toBe(400);
  expect(JSON.parse(String(m.value))).toMatchObject({
    specversion: '1.0',
    id: ev!.id,
    source: 'bench-test',
    type: 'account.credited',
    data: { account: ev!.account, amount: 1 },
  });
});

test('metric values are summed over the samples whose labels match', () => {
  const text = [
    '# HELP idem_duplicates_total x',
    'idem_duplicates_total{layer="temporal"} 7',
    'idem_duplicates_total{layer="store"} 2',
    'idem_duplicates_total_other 100',
    'idem_workflow_start_seconds_sum 1.5',
  ].join('\n');
  expect(metricValue(text, 'idem_duplicates_total')).toBe(9);
  expect(metricValue(text, 'idem_duplicates_total', { layer: 'store' })).toBe(2);
  expect(metricValue(text, 'idem_workflow_start_seconds_sum')).toBe(1.5);
  expect(metricValue(text, 'missing')).toBe(0);
});
