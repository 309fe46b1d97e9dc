import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Command } from 'commander';
import { startIdem, type Role } from '../app';
import { loadConfig } from '../config';
import { createLogger } from '../observability/logger';

let runtimeInstalled = false;

/** The Temporal SDK's own logs go through at WARN unless idem logs at debug. */
export function installTemporalRuntime(level: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const sdkLevel = level === 'debug' || level === 'trace' ? 'INFO' : level === 'error' ? 'ERROR' : 'WARN';
  Runtime.install({ logger: new DefaultLogger(sdkLevel) });
}

/** Runs roles until SIGTERM/SIGINT, then stops gracefully and exits 0. */
export async function runRoles(roles: Role[]): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  installTemporalRuntime(config.logLevel);
  const proc = await startIdem({ config, logger, roles });
  logger.info(
    {
      roles,
      topics: config.kafka.topics,
      taskQueue: config.temporal.taskQueue,
      metricsPort: config.metricsPort,
    },
    'idem running',
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: no new reads, settling in-flight events, committing offsets');
    proc
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await proc.done.catch((err: unknown) => {
    logger.fatal({ err }, 'worker failed');
    process.exit(1);
  });
}

export function registerRunCommands(program: Command): void {
  program
    .command('consume', { isDefault: true })
    .description('ingester, worker and outbox relay in one process (the default deployment)')
    .action(() => runRoles(['ingester', 'worker', 'relay']));
  program
    .command('worker')
    .description('the Temporal worker (processEvent workflow, applyEvent activities) and the outbox relay')
    .action(() => runRoles(['worker', 'relay']));
  program
    .command('ingest')
    .description('the Kafka ingester alone: starts one workflow per event')
    .action(() => runRoles(['ingester']));
}
