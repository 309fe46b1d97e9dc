/**
 * `idem stack up | down | status | env`: the real local stack (Kafka, Temporal,
 * PostgreSQL) on loopback, and the file that tells every other idem command
 * where it is.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import { stackEnvFile, type Config } from '../config';
import { migrate } from '../store/migrate';
import { pgConnectionConfig } from '../store/tls';
import {
  ensureTopics,
  kafkaBrokers,
  kafkaHealthy,
  kafkaPid,
  stackTopics,
  startKafka,
  stopKafka,
} from './kafka';
import { HOST, PORTS, layoutFor, type Layout } from './layout';
import {
  canConnect,
  ensureDatabase,
  isStackDatabaseUrl,
  stackDatabaseUrl,
  startPostgres,
  stopPostgres,
} from './postgres';
import { stderrReporter, step, type Reporter } from './progress';
import {
  ensureSearchAttributes,
  httpOk,
  startTemporal,
  stopTemporal,
  temporalAddress,
  temporalHealthy,
  temporalPid,
  temporalWebUrl,
} from './temporal';

export interface StackEnv {
  KAFKA_BROKERS: string;
  TEMPORAL_ADDRESS: string;
  TEMPORAL_NAMESPACE: string;
  TEMPORAL_WEB_URL: string;
  DATABASE_URL: string;
}

export interface UpOptions {
  config: Config;
  /** A PostgreSQL the user runs; when set no embedded server is started. The stack's own address
   * (exported by `idem stack env`) does not count as one. */
  externalDatabaseUrl?: string;
  report?: Reporter;
}

export interface UpResult {
  env: StackEnv;
  started: string[];
  reused: string[];
}

function stackEnv(databaseUrl: string): StackEnv {
  return {
    KAFKA_BROKERS: kafkaBrokers,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_WEB_URL: temporalWebUrl,
    DATABASE_URL: databaseUrl,
  };
}

export function formatEnv(env: Partial<StackEnv>, exportPrefix = false): string {
  return (
    Object.entries(env)
      .map(([k, v]) => `${exportPrefix ? 'export ' : ''}${k}=${v}`)
      .join('\n') + '\n'
  );
}

export function readStackEnv(cacheDir: string): string | undefined {
  try {
    return fs.readFileSync(stackEnvFile(cacheDir), 'utf8');
  } catch {
    return undefined;
  }
}

/** Brings the stack up; reuses every component that already answers. Idempotent. */
export async function stackUp(opts: UpOptions): Promise<UpResult> {
  const report = opts.report ?? stderrReporter;
  const layout = layoutFor(opts.config.cacheDir);
  for (const dir of [layout.cacheDir, layout.binDir, layout.runDir, layout.logDir])
    fs.mkdirSync(dir, { recursive: true });
  const external =
    opts.externalDatabaseUrl && !isStackDatabaseUrl(opts.externalDatabaseUrl)
      ? opts.externalDatabaseUrl
      : undefined;
  const databaseUrl = external ?? stackDatabaseUrl;

  // The three start independently; the first run's slow steps (Go build, Maven) overlap.
  const limits = { ceilingMs: opts.config.stack.timeoutMs, stallMs: opts.config.stack.stallMs };
  const [kafka, temporal, postgres] = await Promise.all([
    startKafka(layout, report, limits),
    startTemporal(layout, report, limits),
    external ? Promise.resolve('external' as const) : startPostgres(layout, report, limits),
  ]);

  if (temporal === 'reused')
    await step(
      "checking idem's search attributes",
      async () => {
        const added = await ensureSearchAttributes();
        if (added.length) report(`    registered ${added.join(', ')}`);
      },
      report,
    );
  await step(
    'creating topics',
    async () => {
      const created = await ensureTopics(
        [kafkaBrokers],
        stackTopics(opts.config.kafka.topics, opts.config.kafka.outboxTopic),
      );
      if (created.length) report(`    created ${created.join(', ')}`);
    },
    report,
  );
  await step(
    'creating the database and running migrations',
    async () => {
      await ensureDatabase(databaseUrl);
      const pool = new Pool({ ...pgConnectionConfig(databaseUrl), max: 1 });
      try {
        const applied = await migrate(pool);
        if (applied.length) report(`    applied ${applied.join(', ')}`);
      } finally {
        await pool.end();
      }
    },
    report,
  );

  const env = stackEnv(databaseUrl);
  fs.writeFileSync(
    stackEnvFile(layout.cacheDir),
    `# Written by \`idem stack up\`; read by every idem command (environment variables override it).\n${formatEnv(env)}`,
  );
  const outcome = { kafka, temporal, postgres };
  return {
    env,
    started: Object.entries(outcome)
      .filter(([, v]) => v === 'started')
      .map(([k]) => k),
    reused: Object.entries(outcome)
      .filter(([, v]) => v === 'reused')
      .map(([k]) => k),
  };
}

/** Stops what the stack started. Data stays in the cache for the next `up`. */
export async function stackDown(config: Config, report: Reporter = stderrReporter): Promise<string[]> {
  const layout = layoutFor(config.cacheDir);
  const stopped: string[] = [];
  const stops: [string, () => Promise<boolean>][] = [
    ['kafka', () => stopKafka(layout)],
    ['temporal', () => stopTemporal(layout)],
    ['postgres', () => stopPostgres(layout)],
  ];
  // Every component is stopped even if another one fails to.
  const results = await Promise.allSettled(
    stops.map(async ([name, stop]) => {
      if (await stop()) {
        stopped.push(name);
        report(`  ✓ stopped ${name}`);
      } else report(`  - ${name} was not running (under this cache)`);
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return stopped;
}

/** The data `idem stack reset` deletes: each component's own, never the downloads and builds. */
export function stackDataPaths(cacheDir: string): string[] {
  const layout = layoutFor(cacheDir);
  return [
    path.join(layout.temporalDir, 'temporal.db'),
    path.join(layout.temporalDir, 'temporal.db-wal'),
    path.join(layout.temporalDir, 'temporal.db-shm'),
    path.join(layout.kafkaDir, 'data'),
    path.join(layout.postgresDir, 'data'),
  ];
}

/**
 * Stops the stack and deletes its data: Temporal's workflows (the dev server's SQLite file grows
 * with every run: 5.1 GB and 256,502 workflows after two weeks of tests and benches here, with the
 * server deleting those past the namespace's retention in the background), Kafka's topics and
 * offsets, PostgreSQL's databases. The next `up` starts empty; downloads and builds stay.
 */
export async function stackReset(config: Config, report: Reporter = stderrReporter): Promise<string[]> {
  await stackDown(config, report);
  const deleted: string[] = [];
  for (const p of stackDataPaths(config.cacheDir)) {
    if (!fs.existsSync(p)) continue;
    fs.rmSync(p, { recursive: true, force: true });
    deleted.push(p);
    report(`  ✓ deleted ${p}`);
  }
  return deleted;
}

export interface ComponentStatus {
  name: string;
  healthy: boolean;
  url: string;
  pid?: number;
  detail?: string;
}

export async function stackStatus(config: Config): Promise<ComponentStatus[]> {
  const layout: Layout = layoutFor(config.cacheDir);
  const [kafka, temporal, web, pg] = await Promise.all([
    kafkaHealthy(config.kafka.brokers),
    temporalHealthy(config.temporal.address),
    httpOk(config.temporal.webUrl),
    canConnect(config.database.url),
  ]);
  return [
    { name: 'kafka', healthy: kafka, url: config.kafka.brokers.join(','), pid: kafkaPid(layout) },
    { name: 'temporal', healthy: temporal, url: config.temporal.address, pid: temporalPid(layout) },
    { name: 'temporal-web', healthy: web, url: config.temporal.webUrl },
    {
      name: 'postgres',
      healthy: pg,
      url: config.database.url.replace(/:[^:@/]*@/, ':***@'),
      detail: config.database.url.includes(`${HOST}:${PORTS.postgres}`)
        ? `data in ${layout.postgresDir}`
        : 'external',
    },
  ];
}
