/**
 * Where the local stack keeps its binaries, jars, data and logs, and the loopback
 * ports it listens on. Ports are idem's own (not the products' defaults) so the
 * stack does not collide with a Kafka, Temporal or PostgreSQL a developer
 * already runs; docker-compose.yml publishes the same ports.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

export const PORTS = {
  kafka: 29092,
  kafkaController: 29093,
  temporal: 27233,
  temporalHttp: 27243,
  temporalMetrics: 27234,
  temporalWeb: 28233,
  postgres: 25432,
} as const;

export const HOST = '127.0.0.1';

export interface Layout {
  cacheDir: string;
  binDir: string;
  runDir: string;
  logDir: string;
  kafkaDir: string;
  temporalDir: string;
  postgresDir: string;
}

/**
 * PostgreSQL refuses to run as root, so as root the server runs as the
 * `postgres` user, which cannot enter a root-owned home (0700). Its data then
 * lives under /var/tmp (kept across reboots, unlike /tmp on many systems), in a
 * directory named after the cache so two caches never share a cluster.
 */
function postgresDir(cacheDir: string): string {
  if (process.getuid?.() !== 0) return path.join(cacheDir, 'postgres');
  const tag = crypto.createHash('sha256').update(cacheDir).digest('hex').slice(0, 12);
  return path.join(sharedTmpDir(), `idem-postgres-${tag}`);
}

/** Where files for the `postgres` user go when running as root: /var/tmp (kept across reboots,
 * unlike /tmp on many systems), or the configured temporary directory. */
export function sharedTmpDir(): string {
  return os.tmpdir() === '/tmp' ? '/var/tmp' : os.tmpdir();
}

export function layoutFor(cacheDir: string): Layout {
  return {
    cacheDir,
    binDir: path.join(cacheDir, 'bin'),
    runDir: path.join(cacheDir, 'run'),
    logDir: path.join(cacheDir, 'logs'),
    kafkaDir: path.join(cacheDir, 'kafka'),
    temporalDir: path.join(cacheDir, 'temporal'),
    postgresDir: postgresDir(cacheDir),
  };
}

export { PACKAGE_ROOT } from '../package-root';
