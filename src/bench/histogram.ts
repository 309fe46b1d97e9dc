/** Latency recording for the bench: an HDR histogram in microseconds, and throughput per second. */
import { build } from 'hdr-histogram-js';
import type { LatencyPoint, LatencySummary, ThroughputPoint } from './types';

const LOWEST_US = 1;
const HIGHEST_US = 10 * 60 * 1_000_000;

export interface LatencyRecorder {
  /** Records one latency in milliseconds. */
  record(ms: number): void;
  /** Values recorded at the edge of the range instead of their own (below 1 µs, above 10 min), or dropped (NaN). */
  readonly outOfRange: number;
  summary(): LatencySummary;
}

/** 1 µs to 10 min at 3 significant digits: a percentile is within 0.1 % of the value recorded. */
export function createLatencyRecorder(): LatencyRecorder {
  const histogram = build({
    lowestDiscernibleValue: LOWEST_US,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    // A fixed range keeps memory bounded; values outside it are clamped below, never resized for.
    autoResize: false,
  });
  let outOfRange = 0;
  const ms = (us: number): number => Math.round(us / 10) / 100;
  return {
    record(valueMs) {
      if (Number.isNaN(valueMs)) {
        outOfRange++;
        return;
      }
      const us = Math.round(valueMs * 1000);
      // Zero and negative values come from clock granularity or skew between producer and consumer.
      if (us < LOWEST_US || us > HIGHEST_US) outOfRange++;
      histogram.recordValue(Math.min(HIGHEST_US, Math.max(LOWEST_US, us)));
    },
    get outOfRange() {
      return outOfRange;
    },
    summary() {
      const count = histogram.totalCount;
      if (count === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
      return {
        count,
        p50: ms(histogram.getValueAtPercentile(50)),
        p95: ms(histogram.getValueAtPercentile(95)),
        p99: ms(histogram.getValueAtPercentile(99)),
        max: ms(histogram.maxValue),
        mean: ms(histogram.mean),
      };
    },
  };
}

/** Events per whole second since `startMs`, every second up to the last event present (zero when none). */
export function throughputSeries(timesMs: readonly number[], startMs: number): ThroughputPoint[] {
  const counts: number[] = [];
  for (const time of timesMs) {
    if (!Number.isFinite(time)) continue;
    // An event stamped just before the start (clock granularity) belongs to the first second.
    const second = Math.max(0, Math.floor((time - startMs) / 1000));
    while (counts.length <= second) counts.push(0);
    counts[second] = (counts[second] ?? 0) + 1;
  }
  return counts.map((events, t) => ({ t, events }));
}

/**
 * The rate between the times the first `from` and the first `to` of the effects were committed
 * (10 % and 90 % by default), in records per second: effects between the two times, times the
 * records each effect stands for (`recordsPerEffect`: a stream with 90 % duplicates carries 10
 * records per effect, spread evenly). A backlog's rate without the clock's two ends: its start
 * (the first fetch, the first workflows) and its last commit. Undefined with too few effects.
 */
export function steadyRate(
  timesMs: readonly number[],
  recordsPerEffect: number,
  from = 0.1,
  to = 0.9,
): number | undefined {
  const t = timesMs.filter(Number.isFinite).sort((a, b) => a - b);
  const [i, j] = [Math.floor(from * t.length), Math.ceil(to * t.length) - 1];
  if (j - i < 10) return undefined;
  const seconds = ((t[j] as number) - (t[i] as number)) / 1000;
  return seconds > 0 ? ((j - i) * recordsPerEffect) / seconds : undefined;
}

/** The worst latency of the events emitted in each stretch of `stretchMs` (from `[emittedMs since
 * the start, latencyMs]` pairs), for every stretch up to the last event; a stretch without an
 * event is left out. */
export function latencyOverTime(
  events: readonly (readonly [number, number])[],
  stretchMs = 250,
): LatencyPoint[] {
  const worst = new Map<number, number>();
  for (const [emitted, ms] of events) {
    if (!Number.isFinite(emitted) || !Number.isFinite(ms)) continue;
    const i = Math.max(0, Math.floor(emitted / stretchMs));
    worst.set(i, Math.max(worst.get(i) ?? -Infinity, ms));
  }
  return [...worst]
    .sort((a, b) => a[0] - b[0])
    .map(([i, maxMs]) => ({ t: (i * stretchMs) / 1000, maxMs: Math.round(maxMs * 100) / 100 }));
}
