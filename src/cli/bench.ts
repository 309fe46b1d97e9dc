import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig, userDatabaseUrl } from '../config';
import { InvalidArgumentError } from '../errors';
import {
  DEFAULT_BASELINE_CONCURRENCY,
  RECOMMENDED_IDEM_ENV,
  RECOMMENDED_NODE_OPTIONS,
} from './bench-defaults';
import { installTemporalRuntime } from './run';

interface BenchFlags {
  events: string;
  duration?: string;
  sameUniqueEvents?: boolean;
  rate: string;
  keys: string;
  payloadBytes: string;
  ordering: string;
  only?: string;
  sweepSeconds: string;
  warmupSeconds: string;
  p99Target: string;
  out?: string;
  cpuProf?: string;
  repeat: string;
  idemNodeOptions: string;
  baselineConcurrency: string;
  idemEnv: string[];
}

function whole(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new InvalidArgumentError(`${flag} ${value}: expected a whole number of at least ${min}`);
  return n;
}

export function parseIdemEnv(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/s.exec(pair);
    if (!m)
      throw new InvalidArgumentError(
        `--idem-env ${pair}: expected KEY=VALUE, for example IDEM_EAGER_START=false`,
      );
    env[m[1] as string] = m[2] as string;
  }
  return env;
}

/**
 * Records per scenario: `--events`, or with `--duration` the paced rate times the duration, so
 * each paced scenario offers its rate for that long. A backlog (`--rate max`) is sized by its
 * records: how long it lasts is what it measures.
 */
export function benchEventCount(f: { events: string; duration?: string }, rate: number | 'max'): number {
  if (f.duration === undefined) return whole('--events', f.events, 10);
  const seconds = whole('--duration', f.duration, 1);
  if (rate === 'max')
    throw new InvalidArgumentError(
      `--duration ${f.duration} needs a paced rate (--rate <events/s>): a backlog (--rate max) is sized by --events, and how long it takes to drain is what it measures`,
    );
  return Math.max(10, Math.round(rate * seconds));
}

/** idem's processes' environment in the bench: the recommended settings, then `--idem-env`'s. */
export function benchIdemEnv(pairs: string[]): Record<string, string> {
  return { ...RECOMMENDED_IDEM_ENV, ...parseIdemEnv(pairs) };
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('measure idem against baselines on the same servers (the local stack unless configured)')
    .option('--events <n>', 'records per scenario (workflows for the Temporal baselines)', '2000')
    .option(
      '--duration <s>',
      'with a paced --rate: run each scenario for this many seconds (rate × s records) instead of --events',
    )
    .option(
      '--same-unique-events',
      "duplicate scenarios carry --events unique events plus their copies (idem-dup90: ten times the records), so they do the unique scenario's work and the copies on top",
    )
    .option('--rate <r>', "offered rate of idem's scenarios in events/s, or max (drain a backlog)", 'max')
    .option('--keys <n>', 'distinct ordering keys (accounts)', '1000')
    .option('--payload-bytes <n>', 'size of each event', '256')
    .option('--ordering <on|off>', 'per-key ordering in the idem scenarios', 'on')
    .option(
      '--only <names>',
      'comma-separated scenarios (default: all): baseline-kafka, baseline-direct, baseline-temporal-regular, baseline-temporal-eager-local, idem-unique, idem-dup50, idem-dup90, idem-unordered, idem-hot-keys',
    )
    .option(
      '--idem-node-options <opts>',
      "NODE_OPTIONS of idem's processes ('' for Node's defaults)",
      RECOMMENDED_NODE_OPTIONS,
    )
    .option(
      '--baseline-concurrency <n>',
      'workflows in flight in the Temporal baselines',
      String(DEFAULT_BASELINE_CONCURRENCY),
    )
    .option('--repeat <n>', 'rounds of the scenarios, interleaved; ratios are the median round', '1')
    .option('--sweep-seconds <s>', 'seconds per paced rate of the latency sweep; 0 skips it', '20')
    .option('--p99-target <ms>', 'the latency target of the sweep', '200')
    .option(
      '--warmup-seconds <s>',
      "paced runs: report the latency of the events of idem's first seconds apart; the sweep judges the rest (0: every event)",
      '1',
    )
    .option('--out <dir>', 'results directory (default bench-results/<time>)')
    .option(
      '--cpu-prof <dir>',
      'write a V8 CPU profile of each idem process (node --cpu-prof) into this directory',
    )
    .option(
      '--idem-env <KEY=VALUE>',
      "configuration for idem's processes, to compare a setting on and off (repeatable); MALLOC_ARENA_MAX=2 and MALLOC_MMAP_THRESHOLD_=131072 unless given ('MALLOC_ARENA_MAX=' for glibc's own)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action(async (f: BenchFlags) => {
      if (!['on', 'off'].includes(f.ordering))
        throw new InvalidArgumentError(`--ordering ${f.ordering}: expected on or off`);
      const rate = f.rate === 'max' ? 'max' : whole('--rate', f.rate, 1);
      const events = benchEventCount(f, rate);
      const config = loadConfig();
      installTemporalRuntime('error');
      // The stack and the bench are development tools: loaded only by this command.
      const { stackStatus, stackUp } = await import('../stack/stack');
      if (!(await stackStatus(config)).every((c) => c.healthy)) {
        await stackUp({ config, externalDatabaseUrl: userDatabaseUrl() });
      }
      const { runBench } = await import('../bench/run');
      const outDir = f.out ?? path.join('bench-results', new Date().toISOString().replace(/[:.]/g, '-'));
      const result = await runBench({
        config,
        events,
        rate,
        keys: whole('--keys', f.keys, 1),
        payloadBytes: whole('--payload-bytes', f.payloadBytes, 64),
        ordering: f.ordering === 'on',
        only: f.only
          ? f.only
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : [],
        repeat: whole('--repeat', f.repeat, 1),
        idemNodeOptions: f.idemNodeOptions,
        baselineConcurrency: whole('--baseline-concurrency', f.baselineConcurrency, 1),
        ...(f.sameUniqueEvents ? { sameUniqueEvents: true } : {}),
        sweepSeconds: whole('--sweep-seconds', f.sweepSeconds, 0),
        p99TargetMs: whole('--p99-target', f.p99Target, 1),
        warmupSeconds: whole('--warmup-seconds', f.warmupSeconds, 0),
        outDir,
        idemEnv: benchIdemEnv(f.idemEnv),
        ...(f.cpuProf ? { cpuProfDir: path.resolve(f.cpuProf) } : {}),
        out: (line) => process.stderr.write(`${line}\n`),
      });
      // Progress went to stderr; the tables go to stdout.
      const { renderSummary } = await import('../bench/report-markdown');
      process.stdout.write(`\n${renderSummary(result)}\n`);
      process.exit(0);
    });
}
