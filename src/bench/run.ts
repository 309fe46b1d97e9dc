/**
 * `idem bench`: on one set of servers (the local stack unless configured), the
 * baselines and idem's scenarios one after the other, a paced sweep that finds the
 * highest rate whose p99 stays under the target, then JSON, markdown and SVG in a
 * results directory. Every figure is measured in this run; ratios compare idem with
 * the baselines of the same run, since the machine's speed varies from run to run.
 */
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config';
import { runKafkaBaseline } from './baseline-kafka';
import { runDirectBaseline } from './baseline-direct';
import { runTemporalBaseline } from './baseline-temporal';
import { runIdemScenario, type IdemScenarioOptions } from './idem-scenario';
import { DEFAULT_BASELINE_CONCURRENCY } from '../cli/bench-defaults';
import { progressLine } from './progress';
import type { BenchResult, LatencySummary, ScenarioResult, SweepPoint } from './types';
import { writeResults } from './write-results';

export interface BenchOptions {
  config: Config;
  /** Records per scenario (workflows for the Temporal baselines). */
  events: number;
  /** Offered rate of the idem scenarios: 'max' drains a backlog. */
  rate: number | 'max';
  keys: number;
  payloadBytes: number;
  ordering: boolean;
  /** Which scenarios: names from SCENARIOS; all when empty. */
  only: string[];
  /** Rounds of the scenarios, interleaved (baseline, idem, baseline, idem, ...) so a slow
   * stretch of a shared machine hits both sides of a ratio; ratios are the median round's.
   * @default 1 */
  repeat?: number;
  /** Seconds per paced rate of the sweep; 0 skips the sweep. */
  sweepSeconds: number;
  p99TargetMs: number;
  outDir: string;
  /** Configuration given to every idem process (`--idem-env`), to compare a setting on and off. */
  idemEnv?: Record<string, string>;
  /** Where idem's processes write V8 CPU profiles (`--cpu-prof`); none when absent. */
  cpuProfDir?: string;
  /** NODE_OPTIONS of idem's processes (`--idem-node-options`). */
  idemNodeOptions?: string;
  /** Paced idem runs report the latency of their first seconds apart (`--warmup-seconds`), and
   * the sweep judges the rest. @default 0 */
  warmupSeconds?: number;
  /** Workflows in flight in the Temporal baselines (`--baseline-concurrency`). @default 4 */
  baselineConcurrency?: number;
  /** The duplicate scenarios carry as many unique events as the unique one (`events` of them,
   * plus their copies), not as many records (`--same-unique-events`). @default false */
  sameUniqueEvents?: boolean;
  out: (line: string) => void;
}

type Runner = (o: BenchOptions) => Promise<ScenarioResult>;

/** A duplicate scenario's name with `--same-unique-events`. */
const SAME_UNIQUE = ', same unique events';

const idem =
  (name: string, over: Partial<IdemScenarioOptions>): Runner =>
  (o) => {
    // --same-unique-events: the unique scenario's events, each with its share of copies.
    const share = over.duplicateShare ?? 0;
    const same = o.sameUniqueEvents === true && share > 0;
    return runIdemScenario({
      name: same ? `${name}${SAME_UNIQUE}` : name,
      config: o.config,
      events: same ? Math.round(o.events / (1 - share)) : o.events,
      rate: o.rate,
      duplicateShare: 0,
      keys: o.keys,
      hotKeys: 0,
      payloadBytes: o.payloadBytes,
      ordering: o.ordering,
      onProgress: progressLine(name, o.out),
      ...(o.idemEnv ? { idemEnv: o.idemEnv } : {}),
      ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
      ...(o.idemNodeOptions !== undefined ? { nodeOptions: o.idemNodeOptions } : {}),
      ...(o.warmupSeconds ? { warmupSeconds: o.warmupSeconds } : {}),
      ...over,
    });
  };

/** The scenarios the issue asks for, in the order they run. */
export const SCENARIOS: Record<string, Runner> = {
  'baseline-kafka': (o) =>
    runKafkaBaseline({
      // A backlog this size takes seconds to drain: joining the group no longer dominates.
      count: Math.max(50_000, o.events * 10),
      payloadBytes: o.payloadBytes,
      config: o.config,
      onProgress: progressLine('baseline-kafka', o.out),
    }),
  'baseline-direct': (o) =>
    runDirectBaseline({
      count: Math.max(20_000, o.events * 10),
      payloadBytes: o.payloadBytes,
      config: o.config,
      onProgress: progressLine('baseline-direct', o.out),
    }),
  'baseline-temporal-regular': (o) =>
    runTemporalBaseline({
      shape: 'regular',
      count: o.events,
      concurrency: o.baselineConcurrency ?? DEFAULT_BASELINE_CONCURRENCY,
      config: o.config,
      onProgress: progressLine('baseline-temporal regular', o.out),
    }),
  'baseline-temporal-eager-local': (o) =>
    runTemporalBaseline({
      shape: 'eager-local',
      count: o.events,
      concurrency: o.baselineConcurrency ?? DEFAULT_BASELINE_CONCURRENCY,
      config: o.config,
      onProgress: progressLine('baseline-temporal eager+local', o.out),
    }),
  'idem-unique': idem('idem unique', {}),
  'idem-dup50': idem('idem 50% duplicates', { duplicateShare: 0.5 }),
  'idem-dup90': idem('idem 90% duplicates', { duplicateShare: 0.9 }),
  // idem-unique runs with the product's defaults (ordering on, --keys keys); these two vary that.
  'idem-unordered': idem('idem unique, ordering off', { ordering: false }),
  'idem-hot-keys': idem('idem ordering, 8 hot keys', { ordering: true, hotKeys: 8 }),
};

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const names = o.only.length ? o.only : Object.keys(SCENARIOS);
  for (const n of names)
    if (!SCENARIOS[n]) throw new Error(`unknown scenario ${n}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const result: BenchResult = {
    startedAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${os.release()}`,
    },
    servers: {
      kafka: o.config.kafka.brokers.join(','),
      temporal: o.config.temporal.address,
      postgres: o.config.database.url.replace(/:[^:@/]*@/, ':***@'),
    },
    scenarios: [],
    ratios: {},
  };
  const rounds = o.repeat ?? 1;
  for (let round = 1; round <= rounds; round++) {
    for (const name of names) {
      o.out(`▶ ${name}${rounds > 1 ? ` (round ${round} of ${rounds})` : ''}`);
      const r = await (SCENARIOS[name] as Runner)(o);
      if (rounds > 1) r.round = round;
      result.scenarios.push(r);
      o.out(
        `  ✓ ${r.name}: ${r.eventsPerSecond.toFixed(1)} events/s, p99 ${r.latency.p99.toFixed(1)} ms${afterWarmup(r)}`,
      );
    }
  }
  const uniqueRates = result.scenarios.filter((s) => s.name === 'idem unique').map((s) => s.eventsPerSecond);
  if (uniqueRates.length > 0 && o.sweepSeconds > 0) result.sweep = await sweep(o, median(uniqueRates));
  const perRound = Array.from({ length: rounds }, (_, i) =>
    ratios(result.scenarios.filter((s) => (s.round ?? 1) === i + 1)),
  );
  result.ratios = medianRatios(perRound);
  if (rounds > 1) {
    result.ratioRounds = Object.fromEntries(
      Object.keys(result.ratios).map((k) => [k, perRound.flatMap((r) => (r[k] === undefined ? [] : [r[k]]))]),
    );
  }
  const files = await writeResults(o.outDir, result);
  o.out(`\nResults: ${path.relative(process.cwd(), files.markdown)} (and results.json, the charts)`);
  return result;
}

/** Paced runs at fractions of idem's maximum rate; the highest whose p99 meets the target. */
async function sweep(o: BenchOptions, maxRate: number): Promise<NonNullable<BenchResult['sweep']>> {
  const points: SweepPoint[] = [];
  for (const f of [0.25, 0.5, 0.75, 0.9, 1.0]) {
    const rate = Math.max(1, Math.round(maxRate * f * 10) / 10);
    const events = Math.max(20, Math.round(rate * o.sweepSeconds));
    o.out(`▶ sweep: ${rate} events/s offered (${Math.round(f * 100)}% of max), ${events} events`);
    const r = await idem(`idem paced ${rate}/s`, { rate, events })(o);
    points.push({
      offeredRate: rate,
      achievedRate: r.eventsPerSecond,
      latency: r.latency,
      ...(r.warmup ? { warmup: r.warmup } : {}),
      ...(r.latencyOverTime ? { latencyOverTime: r.latencyOverTime } : {}),
    });
    o.out(`  ✓ p50 ${r.latency.p50.toFixed(1)} ms, p99 ${r.latency.p99.toFixed(1)} ms${afterWarmup(r)}`);
  }
  return {
    scenario: 'idem unique, paced',
    points,
    p99TargetMs: o.p99TargetMs,
    ...sweepVerdict(points, o.p99TargetMs),
  };
}

/** The highest offered rate whose p99 is under the target: judged on the events after the
 * warm-up where the points have one, and then also on every event. */
export function sweepVerdict(
  points: readonly SweepPoint[],
  p99TargetMs: number,
): { maxRateUnderP99Ms?: number; maxRateUnderP99MsAllEvents?: number } {
  const highest = (judged: (p: SweepPoint) => LatencySummary) => {
    const ok = points.filter((p) => judged(p).count > 0 && judged(p).p99 < p99TargetMs);
    return ok.length ? Math.max(...ok.map((p) => p.offeredRate)) : undefined;
  };
  const judged = highest((p) => p.warmup?.after ?? p.latency);
  const allEvents = highest((p) => p.latency);
  return {
    ...(judged !== undefined ? { maxRateUnderP99Ms: judged } : {}),
    ...(points.some((p) => p.warmup) && allEvents !== undefined
      ? { maxRateUnderP99MsAllEvents: allEvents }
      : {}),
  };
}

/** `, after the first 2 s: p99 …` for a run with a warm-up split. */
function afterWarmup(r: ScenarioResult): string {
  const w = r.warmup;
  if (!w || w.after.count === 0) return '';
  return `; after the first ${w.seconds} s: p99 ${w.after.p99.toFixed(1)} ms (first ${w.seconds} s: max ${w.first.max.toFixed(1)} ms)`;
}

export function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

/** Each ratio's median over the rounds that measured it. */
export function medianRatios(rounds: Record<string, number>[]): Record<string, number> {
  const keys = [...new Set(rounds.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(
    keys.map((k) => [k, median(rounds.flatMap((r) => (r[k] === undefined ? [] : [r[k]])))]),
  );
}

/** The ratios of one round's scenarios. */
export function ratios(scenarios: ScenarioResult[]): Record<string, number> {
  const scenario = (name: string) => scenarios.find((s) => s.name === name);
  const rate = (name: string) => scenario(name)?.eventsPerSecond;
  const steady = (name: string) => scenario(name)?.steadyEventsPerSecond;
  const out: Record<string, number> = {};
  const add = (key: string, a: number | undefined, b: number | undefined) => {
    if (a !== undefined && b !== undefined && b > 0) out[key] = Math.round((a / b) * 1000) / 1000;
  };
  const eagerLocal = scenarios.find((s) => s.kind === 'baseline-temporal-eager-local')?.eventsPerSecond;
  add('idem unique / baseline-temporal eager+local', rate('idem unique'), eagerLocal);
  for (const same of ['', SAME_UNIQUE]) {
    const dup90 = `idem 90% duplicates${same}`;
    add(`${dup90} / idem unique`, rate(dup90), rate('idem unique'));
    add(`idem 50% duplicates${same} / idem unique`, rate(`idem 50% duplicates${same}`), rate('idem unique'));
    // The same without the clock's two ends (start-up, last commit), which weigh ten times more
    // in a duplicate drain of as many records: between the 10 % and the 90 % of the effects.
    add(`${dup90} / idem unique, 10-90 % of effects`, steady(dup90), steady('idem unique'));
  }
  return out;
}
