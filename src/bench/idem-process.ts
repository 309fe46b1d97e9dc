/**
 * `idem consume` as a user runs it, in a process of its own, so the bench measures
 * its CPU time and peak memory alone and reads its Prometheus metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { freeLoopbackPort } from '../net';
import path from 'node:path';
import { PACKAGE_ROOT } from '../package-root';
import type { LatencySummary } from './types';

export interface IdemChild {
  pid: number;
  metricsPort: number;
  /** Resolves once its consumer has joined the group and received its partitions. */
  joined: Promise<void>;
  /** Prometheus text of its /metrics. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

const RUNNING = '"msg":"idem running"';
const JOINED = '"msg":"joined consumer group';

/** Starts `idem consume --handlers examples/ledger` and resolves once it says it is running. */
export async function startIdemConsume(
  env: Record<string, string>,
  {
    nodeArgs = [],
    nodeOptions,
    timeoutMs = 120_000,
  }: { nodeArgs?: string[]; nodeOptions?: string; timeoutMs?: number } = {},
): Promise<IdemChild> {
  const metricsPort = await freeLoopbackPort();
  const bin = path.join(PACKAGE_ROOT, 'bin', 'idem.js');
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, bin, 'consume', '--handlers', path.join(PACKAGE_ROOT, 'examples', 'ledger')],
    {
      env: {
        ...process.env,
        ...env,
        ...(nodeOptions !== undefined ? { NODE_OPTIONS: nodeOptions } : {}),
        IDEM_METRICS_PORT: String(metricsPort),
        IDEM_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  // One reader of its log (a full pipe would block it): keeps a tail for errors and notes
  // the lines the bench waits for, whenever they come.
  const tail: string[] = [];
  const seen = new Set<string>();
  const wakers = new Set<() => void>();
  let exitCode: number | null | undefined;
  child.stderr?.on('data', (b: Buffer) => {
    tail.push(b.toString());
    if (tail.length > 50) tail.shift();
    const recent = tail.slice(-2).join('');
    for (const marker of [RUNNING, JOINED]) if (recent.includes(marker)) seen.add(marker);
    for (const wake of wakers) wake();
  });
  child.once('exit', (code) => {
    exitCode = code;
    for (const wake of wakers) wake();
  });
  const logged = (marker: string, what: string, ms: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => finish(new Error(`idem consume: ${what} not seen after ${ms} ms:\n${tail.join('')}`)),
        ms,
      );
      const finish = (err?: Error) => {
        clearTimeout(timer);
        wakers.delete(check);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        if (seen.has(marker)) finish();
        else if (exitCode !== undefined)
          finish(new Error(`idem consume exited with ${exitCode} before ${what}:\n${tail.join('')}`));
      };
      wakers.add(check);
      check();
    });
  await logged(RUNNING, 'start-up', timeoutMs);
  const joined = logged(JOINED, 'joining its consumer group', timeoutMs);
  joined.catch(() => undefined);
  return {
    pid: child.pid as number,
    joined,
    metricsPort,
    metrics: () => httpText(`http://127.0.0.1:${metricsPort}/metrics`),
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function httpText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/** Sum of a Prometheus metric's samples whose labels include `match` (`name{...} value` lines). */
export function metricValue(text: string, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = m[2] ?? '';
    if (Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/**
 * Percentiles (ms) of a Prometheus histogram in `text`, for the series whose labels include
 * `match`: linear interpolation inside the bucket, as PromQL's histogram_quantile does, so
 * they are as coarse as the buckets. `max` is unknown from buckets (NaN).
 */
export function histogramSummary(
  text: string,
  name: string,
  match: Record<string, string> = {},
): LatencySummary {
  const buckets = new Map<number, number>();
  let sum = 0;
  let count = 0;
  const matches = (labels: string) => Object.entries(match).every(([k, v]) => labels.includes(`${k}="${v}"`));
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || !matches(m[2] ?? '')) continue;
    const value = Number(m[3]);
    if (m[1] === `${name}_sum`) sum += value;
    else if (m[1] === `${name}_count`) count += value;
    else if (m[1] === `${name}_bucket`) {
      const le = /le="([^"]+)"/.exec(m[2] ?? '')?.[1];
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      buckets.set(bound, (buckets.get(bound) ?? 0) + value);
    }
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const quantile = (q: number): number => {
    if (count === 0) return NaN;
    const rank = q * count;
    let lower = 0;
    let below = 0;
    for (const [bound, cumulative] of sorted) {
      if (cumulative >= rank) {
        // The +Inf bucket has no upper bound: report its lower one, as PromQL does.
        if (bound === Infinity) return lower * 1000;
        const inBucket = cumulative - below;
        return (lower + (bound - lower) * (inBucket > 0 ? (rank - below) / inBucket : 1)) * 1000;
      }
      lower = bound;
      below = cumulative;
    }
    return lower * 1000;
  };
  return {
    count,
    p50: quantile(0.5),
    p95: quantile(0.95),
    p99: quantile(0.99),
    max: NaN,
    mean: count > 0 ? (sum / count) * 1000 : NaN,
  };
}
