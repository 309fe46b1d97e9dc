/** The bench's charts: latency percentiles against offered rate, throughput over time, and the
 * latency of paced runs over time. */
import { lineChart, type RefLine, type Series } from './svg-chart';
import type { BenchResult, LatencyPoint, ScenarioResult } from './types';
import { formatNumber, scenarioLabel } from './report-markdown';

/** d3's category10: distinct on white. Beyond ten scenarios the colours repeat with a dash. */
const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/** Over more than this ratio between the smallest and largest values, a linear axis flattens the small ones. */
const LOG_SPREAD = 20;

function spread(values: number[]): number {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  if (positive.length === 0) return 1;
  return positive.reduce((a, b) => Math.max(a, b)) / positive.reduce((a, b) => Math.min(a, b));
}

export function latencyVsRateSvg(sweep: NonNullable<BenchResult['sweep']>): string {
  const points = [...sweep.points]
    .filter((p) => p.latency.count > 0)
    .sort((a, b) => a.offeredRate - b.offeredRate);
  const line = (name: 'p50' | 'p95' | 'p99', color: string): Series => ({
    name,
    color,
    markers: true,
    points: points.map((p) => [p.offeredRate, p.latency[name]] as const),
  });
  const series = [line('p50', '#1f77b4'), line('p95', '#ff7f0e'), line('p99', '#d62728')];
  const target = formatNumber(sweep.p99TargetMs, 0);
  const refLines: RefLine[] = [
    { axis: 'y', value: sweep.p99TargetMs, name: `p99 target ${target} ms`, color: '#555555', dash: '7 4' },
  ];
  if (sweep.maxRateUnderP99Ms !== undefined) {
    refLines.push({
      axis: 'x',
      value: sweep.maxRateUnderP99Ms,
      name: `highest rate under target: ${formatNumber(sweep.maxRateUnderP99Ms, 1)}/s`,
      color: '#2ca02c',
      dash: '2 3',
    });
  }
  const log = spread([...series.flatMap((s) => s.points.map((p) => p[1])), sweep.p99TargetMs]) > LOG_SPREAD;
  return lineChart({
    title: `Latency against offered rate: ${sweep.scenario}`,
    xLabel: 'offered rate, events/s',
    yLabel: `latency, ms${log ? ' (log scale)' : ''}`,
    yScale: log ? 'log' : 'linear',
    series,
    refLines,
  });
}

/** The `i`th of several lines in one chart: its palette colour, dashed once the colours repeat. */
function paletteSeries(i: number, name: string, points: Series['points']): Series {
  return {
    name,
    color: PALETTE[i % PALETTE.length] ?? '#000000',
    dash: i >= PALETTE.length ? '6 3' : undefined,
    points,
  };
}

export function throughputSvg(scenarios: readonly ScenarioResult[]): string {
  const series = scenarios.map((s, i) =>
    paletteSeries(
      i,
      scenarioLabel(s),
      s.throughput.map((p) => [p.t, p.events] as const),
    ),
  );
  // Judged on each scenario's peak: baselines running 100× faster than idem would flatten its line.
  const log =
    spread(scenarios.map((s) => s.throughput.reduce((m, p) => Math.max(m, p.events), 0))) > LOG_SPREAD;
  return lineChart({
    title: 'Throughput over time',
    xLabel: 'seconds since the scenario began',
    yLabel: `events settled per second${log ? ' (log scale)' : ''}`,
    yScale: log ? 'log' : 'linear',
    series,
  });
}

/** The worst latency per quarter second of emission of each paced run: where a run's slow
 * events were (its first second, or all along). */
export function latencyOverTimeSvg(
  runs: readonly { name: string; points: readonly LatencyPoint[] }[],
  opts: { p99TargetMs?: number; warmupSeconds?: number } = {},
): string {
  const series = runs.map((r, i) =>
    paletteSeries(
      i,
      r.name,
      r.points.map((p) => [p.t, p.maxMs] as const),
    ),
  );
  const refLines: RefLine[] = [];
  if (opts.p99TargetMs !== undefined) {
    const target = formatNumber(opts.p99TargetMs, 0);
    refLines.push({
      axis: 'y',
      value: opts.p99TargetMs,
      name: `${target} ms`,
      color: '#555555',
      dash: '7 4',
    });
  }
  if (opts.warmupSeconds) {
    refLines.push({
      axis: 'x',
      value: opts.warmupSeconds,
      name: `end of the warm-up (${formatNumber(opts.warmupSeconds, 0)} s)`,
      color: '#2ca02c',
      dash: '2 3',
    });
  }
  const values = series.flatMap((s) => s.points.map((p) => p[1]));
  const log = spread([...values, opts.p99TargetMs ?? 0]) > LOG_SPREAD;
  return lineChart({
    title: 'Latency over time, paced runs (worst event of each quarter second)',
    xLabel: 'seconds since the run began, by emission',
    yLabel: `latency, ms${log ? ' (log scale)' : ''}`,
    yScale: log ? 'log' : 'linear',
    series,
    refLines,
  });
}
