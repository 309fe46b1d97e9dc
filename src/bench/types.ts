/**
 * The shapes `idem bench` passes between its parts: every scenario (a baseline or
 * an idem run) yields one ScenarioResult; the report turns a BenchResult into
 * JSON, a markdown table and SVG charts.
 */

/** Latency percentiles in milliseconds, from an HDR histogram (1 µs resolution). */
export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Events settled during one second of the run (for the throughput-over-time chart). */
export interface ThroughputPoint {
  /** Seconds since the scenario began. */
  t: number;
  /** Events settled in [t, t+1). */
  events: number;
}

/** The worst latency of the events emitted in one stretch of a paced run (latency over time). */
export interface LatencyPoint {
  /** Seconds since the scenario began, at the start of the stretch. */
  t: number;
  maxMs: number;
}

/**
 * A paced run's latency in two parts, by when each event was emitted: the first `seconds` after
 * the clock started, whose events meet a process that has just started (code compiled on first
 * use, first connections), and the rest, which is what a consumer that keeps running sees.
 */
export interface WarmupSplit {
  seconds: number;
  first: LatencySummary;
  after: LatencySummary;
}

export interface ProcessUsage {
  /** CPU seconds (user + system) the measured process used during the scenario. */
  cpuSeconds: number;
  /** Peak resident set size in MiB (VmHWM). */
  peakRssMiB: number;
}

export type ScenarioKind =
  | 'baseline-kafka'
  | 'baseline-direct'
  | 'baseline-temporal-regular'
  | 'baseline-temporal-eager-local'
  | 'idem';

export interface ScenarioResult {
  /** A unique, readable name: `idem unique`, `idem 90% duplicates`, `baseline-temporal eager+local`. */
  name: string;
  kind: ScenarioKind;
  /** What was asked: events, offered rate (events/s, or 'max'), duplicate share, keys, ... */
  params: Record<string, string | number | boolean>;
  /** Events (records, or workflows for the Temporal baselines) that reached their final outcome. */
  events: number;
  /** Wall-clock seconds from the first event offered to the last settled. */
  seconds: number;
  /** events / seconds. */
  eventsPerSecond: number;
  /** idem's backlog runs: the rate between the 10 % and the 90 % of the effects committed, in
   * records per second (histogram.ts `steadyRate`), without the clock's two ends. */
  steadyEventsPerSecond?: number;
  /** Emission to committed effect (or to workflow completion for the Temporal baselines). */
  latency: LatencySummary;
  /** Per-stage latencies where measured (kafkaWait, startCall, scheduleToStart, apply). */
  stages?: Record<string, LatencySummary>;
  throughput: ThroughputPoint[];
  /** CPU and peak RSS of the process under test, where it is a process of its own. */
  usage?: ProcessUsage;
  /** Temporal history events per workflow (sampled), where workflows ran. */
  historyEventsPerWorkflow?: number;
  /** Anything else worth reporting (duplicates by layer, errors seen, ...). */
  extra?: Record<string, number | string>;
  /** Which round of a `--repeat` run this was (1-based); absent in a single round. */
  round?: number;
  /** Paced idem runs: `latency` split at the warm-up (`--warmup-seconds`). */
  warmup?: WarmupSplit;
  /** Paced idem runs: the worst latency per quarter second of emission. */
  latencyOverTime?: LatencyPoint[];
}

/** One point of the paced sweep: an offered rate and the latency it gave. */
export interface SweepPoint {
  offeredRate: number;
  achievedRate: number;
  /** Every event of the run. */
  latency: LatencySummary;
  /** The same events split at the warm-up; the sweep judges `after` when present. */
  warmup?: WarmupSplit;
  latencyOverTime?: LatencyPoint[];
}

export interface BenchResult {
  startedAt: string;
  machine: { cpus: number; memoryGiB: number; node: string; platform: string };
  /** Where the servers were: the local stack's addresses or the configured ones. */
  servers: { kafka: string; temporal: string; postgres: string };
  scenarios: ScenarioResult[];
  sweep?: {
    scenario: string;
    points: SweepPoint[];
    /** Judged on the events after the warm-up, when the points have one. */
    maxRateUnderP99Ms?: number;
    /** Judged on every event, warm-up included (when the points have a warm-up). */
    maxRateUnderP99MsAllEvents?: number;
    p99TargetMs: number;
  };
  /** Ratios that the targets are stated in (idem unique / eager+local baseline, ...):
   * the median over the rounds when the scenarios ran more than once. */
  ratios: Record<string, number>;
  /** Each ratio in every round, in round order, when there was more than one round. */
  ratioRounds?: Record<string, number[]>;
}
