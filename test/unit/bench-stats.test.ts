/** The bench's arithmetic: histograms read back from /metrics, medians over rounds, --idem-env. */
import { steadyRate } from '../../src/bench/histogram';
import { histogramSummary, metricValue } from '../../src/bench/idem-process';
import { median, medianRatios, ratios } from '../../src/bench/run';
import type { ScenarioResult } from '../../src/bench/types';
import { benchEventCount, benchIdemEnv, parseIdemEnv } from '../../src/cli/bench';
import { InvalidArgumentError } from '../../src/errors';

// 100 observations of stage="apply": 50 under 5 ms, 40 more under 10 ms, 10 more under 50 ms.
const METRICS = `# HELP idem_event_stage_seconds Time events spend in each stage
# TYPE idem_event_stage_seconds histogram
idem_event_stage_seconds_bucket{le="0.005",stage="apply"} 50
idem_event_stage_seconds_bucket{le="0.01",stage="apply"} 90
idem_event_stage_seconds_bucket{le="0.05",stage="apply"} 100
idem_event_stage_seconds_bucket{le="+Inf",stage="apply"} 100
idem_event_stage_seconds_sum{stage="apply"} 0.6
idem_event_stage_seconds_count{stage="apply"} 100
idem_event_stage_seconds_bucket{le="0.005",stage="start_call"} 0
idem_event_stage_seconds_bucket{le="0.01",stage="start_call"} 0
idem_event_stage_seconds_bucket{le="0.05",stage="start_call"} 1
idem_event_stage_seconds_bucket{le="+Inf",stage="start_call"} 2
idem_event_stage_seconds_sum{stage="start_call"} 90.02
idem_event_stage_seconds_count{stage="start_call"} 2
idem_duplicates_total{layer="store"} 3
idem_duplicates_total{layer="ingest"} 4
`;

describe('histogramSummary', () => {
  it('interpolates inside the bucket as histogram_quantile does', () => {
    const s = histogramSummary(METRICS, 'idem_event_stage_seconds', { stage: 'apply' });
    expect(s.count).toBe(100);
    expect(s.mean).toBeCloseTo(6, 6);
    expect(s.p50).toBeCloseTo(5, 6); // the 50th observation ends the first bucket
    expect(s.p95).toBeCloseTo(30, 6); // half way through (10, 50] ms
    expect(s.p99).toBeCloseTo(46, 6);
    expect(Number.isNaN(s.max)).toBe(true); // buckets do not know the maximum
  });

  it('reports the +Inf bucket by its lower bound and keeps series apart by label', () => {
    const s = histogramSummary(METRICS, 'idem_event_stage_seconds', { stage: 'start_call' });
    expect(s.count).toBe(2);
    expect(s.p99).toBeCloseTo(50, 6);
    expect(s.mean).toBeCloseTo(45_010, 3);
  });

  it('has no percentiles without observations', () => {
    const s = histogramSummary(METRICS, 'idem_event_stage_seconds', { stage: 'kafka_wait' });
    expect(s.count).toBe(0);
    expect(Number.isNaN(s.p50)).toBe(true);
  });

  it('sits beside metricValue, which sums counters by label', () => {
    expect(metricValue(METRICS, 'idem_duplicates_total')).toBe(7);
    expect(metricValue(METRICS, 'idem_duplicates_total', { layer: 'ingest' })).toBe(4);
  });
});

const run = (
  name: string,
  eventsPerSecond: number,
  kind: ScenarioResult['kind'] = 'idem',
): ScenarioResult => ({
  name,
  kind,
  params: {},
  events: 100,
  seconds: 100 / eventsPerSecond,
  eventsPerSecond,
  latency: { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 },
  throughput: [],
});

describe('ratios over rounds', () => {
  it('compares scenarios of one round', () => {
    const r = ratios([
      run('baseline-temporal eager+local', 50, 'baseline-temporal-eager-local'),
      run('idem unique', 45),
      run('idem 90% duplicates', 450),
    ]);
    expect(r['idem unique / baseline-temporal eager+local']).toBeCloseTo(0.9, 3);
    expect(r['idem 90% duplicates / idem unique']).toBeCloseTo(10, 3);
    expect(r['idem 50% duplicates / idem unique']).toBeUndefined();
  });

  it("compares the backlogs' rates without the clock's two ends where both have one", () => {
    const steady = (r: ScenarioResult, v: number): ScenarioResult => ({ ...r, steadyEventsPerSecond: v });
    const r = ratios([steady(run('idem unique', 45), 50), steady(run('idem 90% duplicates', 400), 520)]);
    expect(r['idem 90% duplicates / idem unique']).toBeCloseTo(8.889, 3);
    expect(r['idem 90% duplicates / idem unique, 10-90 % of effects']).toBeCloseTo(10.4, 3);
    expect(ratios([run('idem unique', 45), steady(run('idem 90% duplicates', 400), 520)])).not.toHaveProperty(
      'idem 90% duplicates / idem unique, 10-90 % of effects',
    );
  });

  it("compares a duplicate stream that carries the unique stream's events plus their copies", () => {
    const r = ratios([run('idem unique', 45), run('idem 90% duplicates, same unique events', 430)]);
    expect(r['idem 90% duplicates, same unique events / idem unique']).toBeCloseTo(9.556, 3);
    expect(r).not.toHaveProperty('idem 90% duplicates / idem unique');
  });

  it('takes the median round of each ratio, over the rounds that measured it', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(medianRatios([{ a: 0.8, b: 2 }, { a: 1.0 }, { a: 0.9, b: 4 }])).toEqual({ a: 0.9, b: 3 });
  });
});

describe('steadyRate', () => {
  it('is the rate between the 10 % and the 90 % of the effects, the slow start and end left out', () => {
    // 100 effects: the first 10 in the first 5 s (start-up), then one every 100 ms, the last 10 late.
    const times = [
      ...Array.from({ length: 10 }, (_, i) => i * 500),
      ...Array.from({ length: 80 }, (_, i) => 5_000 + i * 100),
      ...Array.from({ length: 10 }, (_, i) => 20_000 + i * 1_000),
    ];
    // Effects 10 (at 5.0 s) to 89 (at 12.9 s): 79 effects in 7.9 s.
    expect(steadyRate(times, 1)).toBeCloseTo(10, 6);
    // A stream with 90 % duplicates: each effect stands for 10 records.
    expect(steadyRate([...times].reverse(), 10)).toBeCloseTo(100, 6);
  });

  it('has no value with too few effects or none in time', () => {
    expect(steadyRate([1, 2, 3], 1)).toBeUndefined();
    expect(
      steadyRate(
        Array.from({ length: 50 }, () => 1_000),
        1,
      ),
    ).toBeUndefined();
    expect(steadyRate([], 1)).toBeUndefined();
  });
});

describe('--duration', () => {
  it('sizes paced scenarios by rate × seconds instead of --events', () => {
    expect(benchEventCount({ events: '2000' }, 'max')).toBe(2000);
    expect(benchEventCount({ events: '2000' }, 40)).toBe(2000);
    expect(benchEventCount({ events: '2000', duration: '60' }, 40)).toBe(2400);
    expect(benchEventCount({ events: '2000', duration: '1' }, 2)).toBe(10); // at least 10, as --events
  });

  it('is refused for a backlog and for a duration that is not a whole number of seconds', () => {
    expect(() => benchEventCount({ events: '2000', duration: '60' }, 'max')).toThrow(
      /--duration 60 needs a paced rate \(--rate <events\/s>\)/,
    );
    expect(() => benchEventCount({ events: '2000', duration: '0.5' }, 40)).toThrow(InvalidArgumentError);
  });
});

describe('--idem-env', () => {
  it('reads KEY=VALUE pairs, values may hold = and be empty', () => {
    expect(parseIdemEnv(['IDEM_EAGER_START=false', 'NODE_X=a=b', 'IDEM_EMPTY='])).toEqual({
      IDEM_EAGER_START: 'false',
      NODE_X: 'a=b',
      IDEM_EMPTY: '',
    });
  });

  it("limits glibc's malloc arenas and fixes its mmap threshold unless told otherwise", () => {
    expect(benchIdemEnv([])).toEqual({ MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' });
    expect(benchIdemEnv(['MALLOC_ARENA_MAX=', 'IDEM_EAGER_START=false'])).toEqual({
      MALLOC_ARENA_MAX: '',
      MALLOC_MMAP_THRESHOLD_: '131072',
      IDEM_EAGER_START: 'false',
    });
  });

  it('refuses anything else with the form it expects', () => {
    expect(() => parseIdemEnv(['eager=false'])).toThrow(InvalidArgumentError);
    expect(() => parseIdemEnv(['IDEM_EAGER_START'])).toThrow(/expected KEY=VALUE/);
  });
});
