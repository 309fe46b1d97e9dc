import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Command } from 'commander';
import { loadHandlerModule, type LoadedHandlers } from '../activities/handlers/load';
import { startIdem, type Role } from '../app';
import { loadConfig, type Config } from '../config';
import { ConfigError, HandlersModuleError, StoppedError } from '../errors';
import { createLogger, type Logger } from '../observability/logger';
import { lifetimeTotals } from '../observability/metrics';
import { sdkMetricsAddress } from '../observability/sdk-metrics';
import { temporalSdkLogger } from '../observability/temporal-logger';

let runtimeInstalled = false;

/** The Temporal SDK's own logs go through idem's logger at WARN unless idem logs at debug,
 * repeated failures throttled (observability/temporal-logger.ts). With `metricsAddress`, the SDK
 * exports its metrics there (observability/sdk-metrics.ts). */
export function installTemporalRuntime(level: string, logger?: Logger, metricsAddress?: string): void {
  if (runtimeInstalled) return;
  const sdkLevel = level === 'debug' || level === 'trace' ? 'INFO' : level === 'error' ? 'ERROR' : 'WARN';
  Runtime.install({
    logger: logger ? temporalSdkLogger(logger, sdkLevel) : new DefaultLogger(sdkLevel),
    ...(metricsAddress
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress } } } }
      : {}),
  });
  runtimeInstalled = true;
}

/**
 * Installs the runtime with the SDK's metrics exporter on loopback (observability/sdk-metrics.ts)
 * and returns its address. A port taken by another process: the configured one is a
 * configuration error; a chosen one (taken between the choice and the bind) is chosen again.
 */
async function installWithSdkMetrics(config: Config, logger: Logger): Promise<string | undefined> {
  for (let attempt = 1; ; attempt++) {
    const address = await sdkMetricsAddress({
      metricsPort: config.metricsPort,
      temporalMetricsPort: config.monitoring.temporalMetricsPort,
    });
    try {
      installTemporalRuntime(config.logLevel, logger, address);
      return address;
    } catch (err) {
      if (address === undefined || !/in use/i.test(String(err))) throw err;
      if (config.monitoring.temporalMetricsPort !== undefined)
        throw new ConfigError(
          `IDEM_TEMPORAL_METRICS_PORT: ${address} is in use by another process: choose another port, leave it ` +
            "unset (a free one is chosen), or set 0 to turn the Temporal SDK's metrics off",
        );
      if (attempt >= 3) throw err;
    }
  }
}

/** The handler module from `--handlers`, else IDEM_HANDLERS; a clear stop when there is none. */
export function requireHandlers(config: Config, flag: string | undefined, command: string): LoadedHandlers {
  const spec = flag ?? config.handlers;
  if (!spec) {
    throw new HandlersModuleError(
      `\`idem ${command}\` needs the module with your event handlers: pass --handlers <module> or set ` +
        'IDEM_HANDLERS=<module> (a compiled .js file, a directory with index.js, or a package name). ' +
        'idem applies no event type of its own; to run the ledger example from this repository: ' +
        `idem ${command} --handlers examples/ledger. See docs/handlers.md.`,
    );
  }
  return loadHandlerModule(spec);
}

/** Runs roles until SIGTERM/SIGINT, then stops gracefully and exits 0. */
export async function runRoles(roles: Role[], handlersFlag?: string): Promise<void> {
  const config = loadConfig();
  const command = roles.includes('ingester') ? (roles.includes('worker') ? 'consume' : 'ingest') : 'worker';
  const handlers = roles.includes('worker') ? requireHandlers(config, handlersFlag, command) : undefined;
  const logger = createLogger(config.logLevel);
  const sdkMetrics = await installWithSdkMetrics(config, logger);
  // A signal during start-up (a dependency awaited) stops the wait; afterwards, a graceful stop.
  const starting = new AbortController();
  let proc: Awaited<ReturnType<typeof startIdem>> | undefined;
  let stopping = false;
  const shutDown = (running: NonNullable<typeof proc>) => {
    logger.info('stopping: no new reads, settling in-flight events, committing offsets');
    running
      .stop()
      .then(async () => {
        logger.info({ totals: await lifetimeTotals(running.metrics) }, 'idem stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      });
  };
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, proc ? 'stop requested' : 'stop requested during start-up');
    if (proc) shutDown(proc);
    // A step in progress (a consumer group join) may still finish: start-up then hands over to
    // the shutdown below instead of running on.
    else starting.abort();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    proc = await startIdem({
      config,
      logger,
      roles,
      registry: handlers?.registry,
      migrations: handlers?.migrations,
      signal: starting.signal,
      ...(sdkMetrics ? { sdkMetricsAddress: sdkMetrics } : {}),
    });
  } catch (err) {
    if (err instanceof StoppedError) process.exit(0);
    throw err;
  }
  if (starting.signal.aborted) {
    shutDown(proc);
    return;
  }
  logger.info(
    {
      roles,
      topics: config.kafka.topics,
      taskQueue: config.temporal.taskQueue,
      metricsPort: config.metricsPort,
      ...(handlers ? { handlers: handlers.file, eventTypes: handlers.registry.types() } : {}),
    },
    'idem running',
  );
  await proc.done.catch((err: unknown) => {
    logger.fatal({ err }, 'worker failed');
    process.exit(1);
  });
}

const HANDLERS_HELP = 'module with your event handlers (path or package name); default IDEM_HANDLERS';

export function registerRunCommands(program: Command): void {
  program
    .command('consume', { isDefault: true })
    .description('ingester, worker and outbox relay in one process (the default deployment)')
    .option('--handlers <module>', HANDLERS_HELP)
    .action((o: { handlers?: string }) => runRoles(['ingester', 'worker', 'relay'], o.handlers));
  program
    .command('worker')
    .description('the Temporal worker (processEvent workflow, applyEvent activities) and the outbox relay')
    .option('--handlers <module>', HANDLERS_HELP)
    .action((o: { handlers?: string }) => runRoles(['worker', 'relay'], o.handlers));
  program
    .command('ingest')
    .description('the Kafka ingester alone: starts one workflow per event')
    .action(() => runRoles(['ingester']));
}
