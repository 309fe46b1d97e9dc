/**
 * A Prometheus server of one's own on loopback, loading idem's alert rules and scraping idem
 * processes' /metrics: the alert drill (scripts/alert-drill.js, docs/operations.md "Alerts") and
 * its integration test run the real rules against the real metrics of a real stuck event. The
 * binary is Debian's, fetched once into the cache (./promtool.ts); its data lives in a directory
 * of the caller's, and it is stopped by its own pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HOST } from './layout';
import { StackError } from './proc';

/**
 * The rules file with every `for:` set to `forDuration`, nothing else changed. A drill cannot
 * wait the production durations (5 minutes for IdemStuckEvents); the promtool unit tests
 * (deploy/prometheus/tests) cover what `for` does, a drill proves that the expressions fire on
 * the metrics idem really exports.
 */
export function withForDurations(rulesYaml: string, forDuration: string): string {
  let n = 0;
  const out = rulesYaml.replace(/^(\s+)for: \S+$/gm, (_line, indent: string) => {
    n++;
    return `${indent}for: ${forDuration}`;
  });
  if (n === 0) throw new StackError('the rules file has no `for:` line to shorten');
  return out;
}

/** A Prometheus configuration: the rules file, and one job `idem` (the name the rules expect)
 * scraping `targets` (host:port) every `interval`, rules evaluated as often. */
export function drillConfig(o: { rulesFile: string; targets: string[]; interval: string }): string {
  return [
    'global:',
    `  scrape_interval: ${o.interval}`,
    `  evaluation_interval: ${o.interval}`,
    'rule_files:',
    `  - ${JSON.stringify(o.rulesFile)}`,
    'scrape_configs:',
    '  - job_name: idem',
    '    static_configs:',
    `      - targets: ${JSON.stringify(o.targets)}`,
    '',
  ].join('\n');
}

/** An alert as `GET /api/v1/alerts` reports it (pending or firing; resolved ones are gone). */
export interface PrometheusAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
  value: string;
}

export interface LocalPrometheus {
  /** http://127.0.0.1:<port> */
  url: string;
  logFile: string;
  /** The end of its log, for a failure message. */
  logTail(): string;
  /** The active alerts (`/api/v1/alerts`). */
  alerts(): Promise<PrometheusAlert[]>;
  /** The scrape targets' health (`/api/v1/targets`): `scrapeUrl` → `up`, `down` or `unknown`. */
  targets(): Promise<Map<string, string>>;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

async function apiGet<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new StackError(`${url}: ${body.error ?? res.status}`);
  return body.data;
}

/**
 * Starts `binary` with `config` (written to `dir`/prometheus.yml), its TSDB in `dir`/data, its
 * log in `dir`/prometheus.log, listening on 127.0.0.1:`port`; resolves once it is ready. Waits
 * as long as the process lives and is not ready, up to `readyTimeoutMs` (a loaded machine
 * replays the write-ahead log slowly).
 */
export async function startPrometheus(o: {
  binary: string;
  dir: string;
  config: string;
  port: number;
  readyTimeoutMs?: number;
}): Promise<LocalPrometheus> {
  fs.mkdirSync(o.dir, { recursive: true });
  const configFile = path.join(o.dir, 'prometheus.yml');
  fs.writeFileSync(configFile, o.config);
  const logFile = path.join(o.dir, 'prometheus.log');
  const out = fs.openSync(logFile, 'a');
  const url = `http://${HOST}:${o.port}`;
  const child: ChildProcess = spawn(
    o.binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(o.dir, 'data')}`,
      `--web.listen-address=${HOST}:${o.port}`,
    ],
    { stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const logTail = () => {
    try {
      return fs.readFileSync(logFile, 'utf8').slice(-3000);
    } catch {
      return '';
    }
  };
  const prom: LocalPrometheus = {
    url,
    logFile,
    logTail,
    async alerts() {
      return (await apiGet<{ alerts: PrometheusAlert[] }>(`${url}/api/v1/alerts`)).alerts;
    },
    async targets() {
      const data = await apiGet<{ activeTargets: { scrapeUrl: string; health: string }[] }>(
        `${url}/api/v1/targets`,
      );
      return new Map(data.activeTargets.map((t) => [t.scrapeUrl, t.health]));
    },
    async stop(graceMs = 15_000) {
      if (!alive()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 120_000);
  for (;;) {
    if (!alive()) throw new StackError(`prometheus exited before it was ready:\n${logTail()}`);
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return prom;
    if (Date.now() > deadline) {
      await prom.stop();
      throw new StackError(`prometheus was not ready at ${url} in time:\n${logTail()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
