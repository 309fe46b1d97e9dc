import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLatencyRecorder, latencyOverTime, throughputSeries } from '../../src/bench/histogram';
import { renderMarkdown, renderSummary } from '../../src/bench/report-markdown';
import { latencyOverTimeSvg, latencyVsRateSvg, throughputSvg } from '../../src/bench/report-svg';
import { sweepVerdict } from '../../src/bench/run';
import { escapeXml, linearAxis, logAxis, niceStep } from '../../src/bench/svg-chart';
import type { BenchResult, LatencySummary, ScenarioResult } from '../../src/bench/types';
import { withoutPassword, writeResults } from '../../src/bench/write-results';

const latency = (p50: number, count = 100): LatencySummary => ({
  count,
  p50,
  p95: p50 * 2,
  p99: p50 * 3,
  max: p50 * 4,
  mean: p50,
});

const scenario = (name: string, over: Partial<ScenarioResult> = {}): ScenarioResult => ({
  name,
  kind: 'idem',
  params: { events: 100, rate: 'max' },
  events: 1200,
  seconds: 50,
  eventsPerSecond: 24,
  latency: latency(417),
  throughput: [
    { t: 0, events: 20 },
    { t: 1, events: 25 },
    { t: 2, events: 0 },
  ],
  ...over,
});

const result = (over: Partial<BenchResult> = {}): BenchResult => ({
  startedAt: '2026-01-01T00:00:00.000Z',
  machine: { cpus: 2, memoryGiB: 7.8, node: 'v20.19.0', platform: 'linux x64' },
  servers: { kafka: '127.0.0.1:29092', temporal: '127.0.0.1:27233', postgres: 'postgres://u@h:5432/idem' },
  scenarios: [
    scenario('baseline-kafka', {
      kind: 'baseline-kafka',
      eventsPerSecond: 4200.25,
      latency: latency(3),
      throughput: [{ t: 0, events: 4200 }],
    }),
    scenario('idem unique', {
      usage: { cpuSeconds: 50.04, peakRssMiB: 212.6 },
      historyEventsPerWorkflow: 17,
    }),
    scenario('a<b&c'),
  ],
  sweep: {
    scenario: 'idem unique',
    p99TargetMs: 200,
    maxRateUnderP99Ms: 12,
    points: [8, 12, 16].map((r) => ({ offeredRate: r, achievedRate: r, latency: latency(r * 5) })),
  },
  ratios: { 'idem unique / baseline-temporal eager+local': 0.3812 },
  ...over,
});

/** A light well-formedness check: every element closes in order, no stray `<` or bare `&`. */
function expectWellFormed(svg: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let rest = '';
  let at = 0;
  for (const m of svg.matchAll(tag)) {
    rest += svg.slice(at, m.index);
    at = m.index + m[0].length;
    const [, closing, name = '', , selfClosing] = m;
    if (closing) expect(stack.pop()).toBe(name);
    else if (!selfClosing) stack.push(name);
  }
  rest += svg.slice(at);
  expect(stack).toEqual([]);
  expect(rest).not.toMatch(/[<>]/);
  expect(rest).not.toMatch(/&(?!(amp|lt|gt|quot|apos);)/);
  expect(svg.trim().startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
}

describe('latency recorder', () => {
  test('percentiles of 1..1000 ms within HDR precision (3 significant digits)', () => {
    const r = createLatencyRecorder();
    for (let ms = 1; ms <= 1000; ms++) r.record(ms);
    const s = r.summary();
    expect(s.count).toBe(1000);
    expect(s.p50).toBeGreaterThanOrEqual(500);
    expect(s.p50).toBeLessThanOrEqual(500.5);
    expect(s.p95).toBeCloseTo(950, -1);
    expect(s.p99).toBeGreaterThanOrEqual(990);
    expect(s.p99).toBeLessThanOrEqual(991);
    expect(s.max).toBeGreaterThanOrEqual(1000);
    expect(s.max).toBeLessThanOrEqual(1001);
    expect(s.mean).toBeCloseTo(500.5, 0);
    expect(r.outOfRange).toBe(0);
  });

  test('sub-millisecond values keep microsecond resolution, rounded to 2 decimals', () => {
    const r = createLatencyRecorder();
    r.record(0.25);
    expect(r.summary().max).toBe(0.25);
  });

  test('values outside 1 µs to 10 min are clamped and counted; NaN is dropped and counted', () => {
    const r = createLatencyRecorder();
    r.record(-5);
    r.record(0);
    r.record(20 * 60_000);
    r.record(Number.NaN);
    r.record(10);
    const s = r.summary();
    expect(r.outOfRange).toBe(4);
    expect(s.count).toBe(4);
    expect(s.max).toBeGreaterThanOrEqual(600_000);
    expect(s.max).toBeLessThanOrEqual(600_600);
  });

  test('an empty recorder summarises to zeros', () => {
    expect(createLatencyRecorder().summary()).toEqual({ count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });
  });
});

describe('throughput series', () => {
  test('counts events per whole second since the start, zero-filling the gaps', () => {
    const start = 10_000;
    const times = [10_000, 10_999, 11_000, 13_500, 13_999, 9_999, Number.NaN];
    expect(throughputSeries(times, start)).toEqual([
      { t: 0, events: 3 },
      { t: 1, events: 1 },
      { t: 2, events: 0 },
      { t: 3, events: 2 },
    ]);
  });

  test('no events, no points', () => {
    expect(throughputSeries([], 0)).toEqual([]);
  });
});

describe('latency over time', () => {
  test('the worst latency of the events emitted in each quarter second; empty stretches left out', () => {
    const events = [
      [0, 300],
      [120, 180],
      [260, 40],
      [900, 12],
      [990, 15],
      [-3, 20],
      [Number.NaN, 5],
    ] as const;
    expect(latencyOverTime(events)).toEqual([
      { t: 0, maxMs: 300 },
      { t: 0.25, maxMs: 40 },
      { t: 0.75, maxMs: 15 },
    ]);
  });
});

describe('the warm-up split', () => {
  const split = (first: number, after: number) => ({
    seconds: 2,
    first: latency(first, 80),
    after: latency(after, 820),
  });
  // p99 = 3 × p50: the runs at 8 and 12/s meet 200 ms only without their first seconds.
  const points = [
    { offeredRate: 8, achievedRate: 8, latency: latency(70), warmup: split(100, 20) },
    { offeredRate: 12, achievedRate: 12, latency: latency(75), warmup: split(110, 30) },
    { offeredRate: 16, achievedRate: 16, latency: latency(80), warmup: split(120, 90) },
  ];

  test('the sweep judges the events after the warm-up, and says what every event gives', () => {
    expect(sweepVerdict(points, 200)).toEqual({ maxRateUnderP99Ms: 12 });
    expect(sweepVerdict(points, 250)).toEqual({ maxRateUnderP99Ms: 12, maxRateUnderP99MsAllEvents: 16 });
    const noSplit = points.map(({ warmup: _, ...p }) => p);
    expect(sweepVerdict(noSplit, 200)).toEqual({});
    expect(sweepVerdict(noSplit, 250)).toEqual({ maxRateUnderP99Ms: 16 });
  });

  test('the sweep table shows the percentiles after the warm-up, then p99 and max counting it', () => {
    const md = renderMarkdown(
      result({ sweep: { scenario: 'idem unique, paced', p99TargetMs: 200, maxRateUnderP99Ms: 12, points } }),
    );
    expect(md).toContain('| p99 ms, every event | max ms, first 2 s | p99 ≤ 200 ms |');
    expect(md).toContain('| 12.0 | 12.0 | 30.0 | 60.0 | 90.0 | 120.0 | 225.0 | 440.0 | yes |');
    expect(md).toContain('| 16.0 | 16.0 | 90.0 | 180.0 | 270.0 | 360.0 | 240.0 | 480.0 | no |');
    expect(md).toContain('Counting every event, the highest rate is —.');
  });
});

describe('markdown report', () => {
  const md = renderMarkdown(result());

  test('header names the machine and the servers', () => {
    expect(md).toContain('2 CPUs, 7.8 GiB, Node v20.19.0, linux x64');
    expect(md).toContain('Kafka `127.0.0.1:29092`');
    expect(md).toContain('PostgreSQL `postgres://u@h:5432/idem`');
  });

  test('one row per scenario, numbers for reading, "—" where nothing was measured', () => {
    expect(md).toContain(
      '| baseline-kafka | 1,200 | 50.0 | 4,200.3 | — | 3.0 | 6.0 | 9.0 | 12.0 | — | — | — |',
    );
    expect(md).toContain(
      '| idem unique | 1,200 | 50.0 | 24.0 | — | 417.0 | 834.0 | 1,251.0 | 1,668.0 | 50.0 | 213 | 17.0 |',
    );
    expect(md).toContain('| a<b&c |');
  });

  test('an empty histogram has no percentiles', () => {
    const text = renderMarkdown(result({ scenarios: [scenario('idle', { latency: latency(0, 0) })] }));
    expect(text).toContain('| idle | 1,200 | 50.0 | 24.0 | — | — | — | — | — | — | — | — |');
  });

  test("a backlog's rate without the clock's two ends has its column; every row has the header's cells", () => {
    const text = renderMarkdown(result({ scenarios: [scenario('drain', { steadyEventsPerSecond: 26.04 })] }));
    expect(text).toContain('| events/s | 10-90 % events/s |');
    expect(text).toContain('| drain | 1,200 | 50.0 | 24.0 | 26.0 |');
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.startsWith('| scenario |'));
    const cells = lines.slice(at, at + 3).map((l) => l.split(' | ').length);
    expect(cells).toEqual([12, 12, 12]); // header, alignment, the row
  });

  test('what the command prints when it ends: the scenarios, the ratios and the sweep, without the details', () => {
    const summary = renderSummary(result());
    expect(summary.startsWith('## Scenarios\n\n| scenario |')).toBe(true);
    expect(summary).toContain(
      '| idem unique | 1,200 | 50.0 | 24.0 | — | 417.0 | 834.0 | 1,251.0 | 1,668.0 | 50.0 | 213 | 17.0 |',
    );
    expect(summary).toContain('| idem unique / baseline-temporal eager+local | 0.38 |');
    expect(summary).toContain('Highest offered rate with p99 under 200 ms: **12.0 events/s**');
    expect(summary).not.toContain('Parameters:');
    expect(summary).not.toContain('Kafka `127.0.0.1:29092`');
  });

  test('a pipe in a name does not break the table', () => {
    expect(renderMarkdown(result({ scenarios: [scenario('x|y')] }))).toContain('| x\\|y |');
  });

  test('ratios and the sweep with the highest rate under the p99 target', () => {
    expect(md).toContain('| idem unique / baseline-temporal eager+local | 0.38 |');
    expect(md).toContain('Highest offered rate with p99 under 200 ms: **12.0 events/s**');
    expect(md).toContain('| 8.0 | 8.0 | 40.0 | 80.0 | 120.0 | 160.0 | yes |');
    expect(md).toContain('| 16.0 | 16.0 | 80.0 | 160.0 | 240.0 | 320.0 | no |');
  });

  test('a sweep where no rate met the target says so with "—"; no sweep, no section', () => {
    const sweep = { ...result().sweep!, maxRateUnderP99Ms: undefined };
    expect(renderMarkdown(result({ sweep }))).toContain('p99 under 200 ms: **—**');
    expect(renderMarkdown(result({ sweep: undefined }))).not.toContain('## Sweep');
  });
});

describe('nice ticks', () => {
  test('steps are 1, 2 or 5 × 10^n', () => {
    expect([0.3, 0.7, 1, 1.5, 3, 7, 12, 450, 0.02].map(niceStep)).toEqual([
      0.5, 1, 1, 2, 5, 10, 20, 500, 0.02,
    ]);
  });

  test('a linear axis starts at zero and ends on a tick at or above the largest value', () => {
    expect(linearAxis(28).ticks).toEqual([0, 5, 10, 15, 20, 25, 30]);
    expect(linearAxis(4200).ticks).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    expect(linearAxis(0).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  test('a log axis encloses the values on 1, 2, 5 × 10^n', () => {
    expect(logAxis(36, 640).ticks).toEqual([20, 50, 100, 200, 500, 1000]);
    expect(logAxis(30, 60_000).ticks).toEqual([10, 100, 1000, 10_000, 100_000]);
  });
});

describe('SVG charts', () => {
  test('latency against offered rate: percentile lines and the p99 target line', () => {
    const svg = latencyVsRateSvg(result().sweep!);
    expectWellFormed(svg);
    for (const name of ['p50', 'p95', 'p99', 'p99 target 200 ms', 'offered rate, events/s', 'latency, ms']) {
      expect(svg).toContain(`>${name}`);
    }
    expect(svg).toMatch(/<line [^>]*stroke-dasharray="7 4"/);
    expect(svg.match(/<polyline /g)).toHaveLength(3);
  });

  test('a saturated sweep switches the latency axis to a log scale', () => {
    const sweep = result().sweep!;
    const saturated = {
      ...sweep,
      points: [...sweep.points, { ...sweep.points[0]!, offeredRate: 30, latency: latency(9000) }],
    };
    expect(latencyVsRateSvg(saturated)).toContain('(log scale)');
    expect(latencyVsRateSvg(sweep)).not.toContain('(log scale)');
  });

  test('throughput over time: one line per scenario, names escaped', () => {
    const svg = throughputSvg(result().scenarios);
    expectWellFormed(svg);
    expect(svg.match(/<polyline /g)).toHaveLength(3);
    expect(svg).toContain('>baseline-kafka<');
    expect(svg).toContain('>idem unique<');
    expect(svg).toContain('a&lt;b&amp;c');
    expect(svg).not.toContain('a<b&c');
  });

  test('latency over time: one line per paced run, the target and the end of the warm-up', () => {
    const svg = latencyOverTimeSvg(
      [
        {
          name: 'sweep, 22.4/s',
          points: [
            { t: 0, maxMs: 380 },
            { t: 0.25, maxMs: 40 },
          ],
        },
        {
          name: 'sweep, 44.8/s',
          points: [
            { t: 0, maxMs: 250 },
            { t: 0.25, maxMs: 30 },
          ],
        },
      ],
      { p99TargetMs: 200, warmupSeconds: 2 },
    );
    expectWellFormed(svg);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    for (const name of ['sweep, 22.4/s', 'sweep, 44.8/s', '200 ms', 'end of the warm-up (2 s)']) {
      expect(svg).toContain(`>${name}<`);
    }
  });

  test('the well-formedness check catches an unclosed element and a bare ampersand', () => {
    expect(() => expectWellFormed('<svg xmlns="http://www.w3.org/2000/svg"><g></svg>')).toThrow();
    expect(() =>
      expectWellFormed('<svg xmlns="http://www.w3.org/2000/svg"><text>a&b</text></svg>'),
    ).toThrow();
  });

  test('no scenarios still make a well-formed chart that says so', () => {
    const svg = throughputSvg([]);
    expectWellFormed(svg);
    expect(svg).toContain('no data');
  });

  test('escaping covers markup, quotes and characters XML forbids', () => {
    expect(escapeXml(`<a href="x">'&'</a>\u0001`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;',
    );
  });
});

describe('writing results', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-bench-report-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('JSON, markdown with links to the charts, and both charts', async () => {
    const written = await writeResults(dir, result());
    expect(written.charts.map((c) => path.basename(c))).toEqual(['latency-vs-rate.svg', 'throughput.svg']);
    expect(JSON.parse(fs.readFileSync(written.json, 'utf8'))).toEqual(result());
    const md = fs.readFileSync(written.markdown, 'utf8');
    expect(md).toContain('| idem unique |');
    expect(md).toContain('![Latency against offered rate](latency-vs-rate.svg)');
    expect(md).toContain('![Throughput over time](throughput.svg)');
    for (const chart of written.charts) expectWellFormed(fs.readFileSync(chart, 'utf8'));
  });

  test('paced runs add the latency-over-time chart', async () => {
    const paced = scenario('idem unique', { latencyOverTime: [{ t: 0, maxMs: 300 }] });
    const written = await writeResults(dir, result({ scenarios: [paced] }));
    expect(written.charts.map((c) => path.basename(c))).toContain('latency-over-time.svg');
    expect(fs.readFileSync(written.markdown, 'utf8')).toContain('(latency-over-time.svg)');
  });

  test('no sweep, no latency chart', async () => {
    const written = await writeResults(path.join(dir, 'nested'), result({ sweep: undefined }));
    expect(written.charts.map((c) => path.basename(c))).toEqual(['throughput.svg']);
    expect(fs.readFileSync(written.markdown, 'utf8')).not.toContain('latency-vs-rate.svg');
  });

  test('a password in a server address stays out of the results', async () => {
    expect(withoutPassword('postgres://idem:s3cr%40t@db:5432/idem')).toBe('postgres://idem:***@db:5432/idem');
    expect(withoutPassword('postgres://db/idem?user=a&password=x&ssl=1')).toBe(
      'postgres://db/idem?user=a&password=***&ssl=1',
    );
    expect(withoutPassword('127.0.0.1:29092')).toBe('127.0.0.1:29092');
    const servers = { kafka: 'k:9092', temporal: 't:7233', postgres: 'postgres://idem:hunter2@db/idem' };
    const written = await writeResults(dir, result({ servers }));
    for (const file of [written.json, written.markdown]) {
      expect(fs.readFileSync(file, 'utf8')).not.toContain('hunter2');
    }
  });
});
