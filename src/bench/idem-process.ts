/**
 * `idem consume` as a user runs it, in a process of its own, so the bench measures
 * its CPU time and peak memory alone and reads its Prometheus metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { PACKAGE_ROOT } from '../package-root';

export interface IdemChild {
  pid: number;
  metricsPort: number;
  /** Prometheus text of its /metrics. */
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `idem consume --handlers examples/ledger` and resolves once it says it is running. */
export async function startIdemConsume(env: Record<string, string>, timeoutMs = 120_000): Promise<IdemChild> {
  const metricsPort = await freePort();
  const bin = path.join(PACKAGE_ROOT, 'bin', 'idem.js');
  const child: ChildProcess = spawn(
    process.execPath,
    [bin, 'consume', '--handlers', path.join(PACKAGE_ROOT, 'examples', 'ledger')],
    {
      env: { ...process.env, ...env, IDEM_METRICS_PORT: String(metricsPort), IDEM_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const tail: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`idem consume not running after ${timeoutMs} ms:\n${tail.join('')}`)),
      timeoutMs,
    );
    child.stderr?.on('data', (b: Buffer) => {
      const text = b.toString();
      tail.push(text);
      if (tail.length > 50) tail.shift();
      if (text.includes('"msg":"idem running"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`idem consume exited with ${code} during start-up:\n${tail.join('')}`));
    });
  });
  // Keep draining its log so a full pipe never blocks it.
  child.stderr?.on('data', () => undefined);
  return {
    pid: child.pid as number,
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
