/**
 * Temporal for development and tests: the Temporal CLI's dev server (with Temporal
 * Web), state in a SQLite file in the cache so it survives a restart.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ALL_SEARCH_ATTRIBUTES, CLI_TYPE_NAMES } from '../workflows/search-attributes';
import { HOST, PORTS, type Layout } from './layout';
import { isAlive, readPid, run, spawnDetached, StackError, stopPid, which } from './proc';
import { waitUntilReady, type ReadyLimits } from './ready';
import { step, type Reporter } from './progress';

/** Later tags carry a `replace` directive in go.mod, which `go install pkg@version` refuses. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

/** Search attributes idem sets on event workflows, so operators can filter in Temporal Web:
 * name → the type `start-dev --search-attribute Name=Type` takes. */
export const SEARCH_ATTRIBUTES: Record<string, string> = Object.fromEntries(
  ALL_SEARCH_ATTRIBUTES.map((k) => [k.name, CLI_TYPE_NAMES[k.type] ?? k.type]),
);

/** Namespace retention = Temporal's dedup window (the store covers the time after it). */
export const RETENTION = '168h';

export const temporalAddress = `${HOST}:${PORTS.temporal}`;
export const temporalWebUrl = `http://${HOST}:${PORTS.temporalWeb}`;

/** TEMPORAL_CLI_PATH, else `temporal` on PATH, else the cached build (if present). */
export function findTemporalCli(layout: Layout, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TEMPORAL_CLI_PATH) {
    if (!fs.existsSync(env.TEMPORAL_CLI_PATH)) {
      throw new StackError(
        `TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} does not exist; unset it or point it at a temporal binary`,
      );
    }
    return env.TEMPORAL_CLI_PATH;
  }
  const cached = path.join(layout.binDir, 'temporal');
  return which('temporal') ?? (fs.existsSync(cached) ? cached : undefined);
}

/**
 * The dev server's task queues get one partition, as one server with one worker per queue needs.
 * With the default 4, a workflow task that missed its eager start could land on a partition no
 * poller was on (a worker polls its normal queue with 2 of its 10 pollers) and wait there
 * 1–3 s (docs/performance.md). A production cluster keeps partitions for throughput and needs
 * pollers on each (docs/capacity-model.md).
 */
export const ONE_PARTITION = [
  '--dynamic-config-value',
  'matching.numTaskqueueReadPartitions=1',
  '--dynamic-config-value',
  'matching.numTaskqueueWritePartitions=1',
];

/** Finds the Temporal CLI or builds it once with `go install` into the cache. */
export async function ensureTemporalCli(layout: Layout, report: Reporter): Promise<string> {
  const found = findTemporalCli(layout);
  if (found) return found;
  const go = which('go');
  if (!go) {
    throw new StackError(
      'The Temporal CLI is needed and Go is not installed to build it.\n' +
        '  Install Go 1.25+ (https://go.dev/dl/), or put a `temporal` binary on PATH, or set TEMPORAL_CLI_PATH.',
    );
  }
  fs.mkdirSync(layout.binDir, { recursive: true });
  await step(
    `building the Temporal CLI with go install ${TEMPORAL_CLI_MODULE} (first run only, a few minutes)`,
    () =>
      run(go, ['install', TEMPORAL_CLI_MODULE], {
        env: { ...process.env, GOBIN: layout.binDir, GOFLAGS: '-buildvcs=false' },
        logFile: path.join(layout.logDir, 'temporal-build.log'),
      }),
    report,
  );
  return path.join(layout.binDir, 'temporal');
}

export async function temporalHealthy(address = temporalAddress): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 2000 });
    const res = await connection.healthService.check({});
    return res.status === 1; // SERVING
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

export function httpOk(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 400);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

export async function startTemporal(
  layout: Layout,
  report: Reporter,
  limits: ReadyLimits,
): Promise<'reused' | 'started'> {
  if (await temporalHealthy()) return 'reused';
  const cli = await ensureTemporalCli(layout, report);
  fs.mkdirSync(layout.temporalDir, { recursive: true });
  const dbFile = path.join(layout.temporalDir, 'temporal.db');
  const logFile = path.join(layout.logDir, 'temporal.log');
  const args = [
    'server',
    'start-dev',
    '--ip',
    HOST,
    '--port',
    String(PORTS.temporal),
    '--http-port',
    String(PORTS.temporalHttp),
    '--metrics-port',
    String(PORTS.temporalMetrics),
    '--ui-port',
    String(PORTS.temporalWeb),
    '--db-filename',
    dbFile,
    '--namespace',
    'default',
    '--log-level',
    'warn',
    // WAL keeps the single SQLite connection from serialising readers behind writers.
    '--sqlite-pragma',
    'journal_mode=WAL',
    // With WAL, NORMAL syncs at checkpoints instead of at every commit: a killed server (the fault
    // tests' kill -9) loses nothing, as commits are in the file's WAL; only an OS crash could lose
    // the last ones, which a development stack can take. FULL (SQLite's default) made each
    // workflow wait for the VM's disk, and runs of `idem bench` varied with its I/O.
    '--sqlite-pragma',
    'synchronous=NORMAL',
    ...ONE_PARTITION,
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
  ];
  await step(
    `starting Temporal dev server on ${temporalAddress}`,
    async () => {
      const pid = spawnDetached({ name: 'temporal', command: cli, args, runDir: layout.runDir, logFile });
      // The first start creates the schema in a new SQLite file: slow on a busy machine, and
      // the log stays quiet at --log-level warn, so the database file's growth counts as progress.
      const ready = { limits, pid, logFile, watch: [dbFile, `${dbFile}-wal`] };
      await waitUntilReady('Temporal', () => temporalHealthy(), ready);
      await run(cli, [
        'operator',
        'namespace',
        'update',
        '--namespace',
        'default',
        '--retention',
        RETENTION,
        '--address',
        temporalAddress,
      ]);
      await waitUntilReady('Temporal Web', () => httpOk(temporalWebUrl), ready);
    },
    report,
  );
  return 'started';
}

/**
 * Registers idem's search attributes that the namespace lacks: a dev server started by an earlier
 * idem (before IdemStage, IdemErrorClass, IdemAttempts existed) is reused as it is, and its
 * `--search-attribute` flags were the old list. Returns the names it added. Waits until the
 * namespace lists them (the frontend reads them from a cache).
 */
export async function ensureSearchAttributes(
  address = temporalAddress,
  namespace = 'default',
  timeoutMs = 30_000,
): Promise<string[]> {
  const connection = await Connection.connect({ address, connectTimeout: 5000 });
  try {
    const listed = async () =>
      (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
    const known = await listed();
    const missing = ALL_SEARCH_ATTRIBUTES.filter((k) => known[k.name] === undefined);
    if (missing.length === 0) return [];
    const types = temporal.api.enums.v1.IndexedValueType as unknown as Record<string, number>;
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((k) => [k.name, types[`INDEXED_VALUE_TYPE_${k.type}`] as number]),
      ),
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await listed();
      if (missing.every((k) => now[k.name] !== undefined)) return missing.map((k) => k.name);
      if (Date.now() > deadline)
        throw new StackError(
          `Temporal at ${address} accepted the search attributes ${missing.map((k) => k.name).join(', ')} ` +
            `but does not list them after ${timeoutMs / 1000} s; run \`idem stack up\` again`,
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

export async function stopTemporal(layout: Layout): Promise<boolean> {
  return stopPid(layout.runDir, 'temporal');
}

export function temporalPid(layout: Layout): number | undefined {
  const pid = readPid(layout.runDir, 'temporal');
  return isAlive(pid) ? pid : undefined;
}
