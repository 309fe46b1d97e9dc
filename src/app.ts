/**
 * Wiring of an idem process: the Temporal worker (workflows + activities), the
 * Kafka ingester and the outbox relay, from one Config. `idem consume` runs all
 * of them in one process (the default deployment); `idem worker` and
 * `idem ingest` run one side each, to scale them separately.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { createActivities } from './activities';
import type { HandlerRegistry } from './activities/handlers/registry';
import type { Config } from './config';
import { createKafkaDlqPublisher } from './dlq/publisher';
import { HandlersModuleError } from './errors';
import { Ingester } from './ingest/ingester';
import { LocalSettlements } from './ingest/settlement';
import { kafkaLogCreator } from './observability/kafka-log';
import { silentLogger, throttledWarn, type Logger } from './observability/logger';
import { startLagSampler } from './observability/lag';
import { createMetrics, serveMetrics, type Metrics } from './observability/metrics';
import { sdkMetricsReader } from './observability/sdk-metrics';
import { startStuckScanner } from './observability/stuck';
import { startTracingFor } from './observability/tracing-start';
import { createOutboxRelay } from './outbox/relay';
import { startReconciler } from './reconcile/closed-runs';
import { migrate, type MigrationSet } from './store/migrate';
import { createPool } from './store/pool';
import { webpackConfigHook } from './temporal/workflow-bundle';
import { warmProtobufCodecs } from './temporal/warm-codecs';
import { warmUpWorker } from './temporal/warm-up';
import { findApplied } from './store/sql/find-applied';
import { findSettled } from './store/sql/find-settled';
import { recordRejectionPublished, rejectionPublished } from './store/sql/ingest-rejections';
import { pgParkingStore } from './ingest/parking';
import { checkSearchAttributes } from './temporal/preflight';
import { checkNamespaceRetention, namespaceRetentionMs } from './temporal/namespace-retention';
import { isTemporalUnreachable, NotTransientError, reachable, Readiness, waitFor } from './dependencies';
import { checkTopics } from './kafka/preflight';
import { kafkaSecurityOptions } from './kafka/security';
import { temporalClient, temporalConnectionOptions, temporalDataConverter } from './temporal/connection';

/** How long a stopping worker lets running activities finish before cancelling them, and
 * after how long it stops anyway (see the worker options below). */
const SHUTDOWN_GRACE = '5 seconds';
const SHUTDOWN_FORCE = '15 seconds';

export type Role = 'worker' | 'ingester' | 'relay';

export interface StartOptions {
  config: Config;
  logger: Logger;
  roles: Role[];
  /** Handlers of the event types this worker applies; required with the `worker` role. idem ships
   * none: `idem consume --handlers <module>` loads them with loadHandlerModule. */
  registry?: HandlerRegistry;
  /** The handlers' own migration sets, applied by workers at start after idem's own. */
  migrations?: MigrationSet[];
  metrics?: Metrics;
  /** Serve /metrics (and /ready, /live) on config.metricsPort. @default true */
  serveMetrics?: boolean;
  /** Where the Temporal SDK's Prometheus exporter listens (Runtime telemetry, installed by the
   * caller before any connection): /metrics appends its metrics. */
  sdkMetricsAddress?: string;
  /** What the process waits for at start-up (a dependency down); a new one unless given. */
  readiness?: Readiness;
  /** Aborts a start-up that waits for a dependency (SIGTERM meanwhile). */
  signal?: AbortSignal;
}

export interface IdemProcess {
  metrics: Metrics;
  ingester?: Ingester;
  worker?: Worker;
  /** Resolves when the worker stops on its own (a fatal error), rejects with that error. */
  done: Promise<void>;
  readiness: Readiness;
  stop(): Promise<void>;
}

export function createKafka(
  config: Config,
  logger: Logger = silentLogger,
  clientId = config.kafka.clientId,
): Kafka {
  return new Kafka({
    clientId,
    brokers: config.kafka.brokers,
    ...kafkaSecurityOptions(config.kafka),
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
    // Kafka down: kafkajs retries with backoff; the ingester never skips past a record.
    retry: { initialRetryTime: 300, retries: 8 },
  });
}

export async function startIdem(opts: StartOptions): Promise<IdemProcess> {
  const { config, logger, roles } = opts;
  const registry = opts.registry;
  if (roles.includes('worker') && !registry) {
    throw new HandlersModuleError(
      'a worker needs the handlers of the event types it applies: pass --handlers <module> or set ' +
        'IDEM_HANDLERS (in this repository: --handlers examples/ledger); see docs/handlers.md',
    );
  }
  const metrics = opts.metrics ?? createMetrics({ defaults: true });
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse())
      await close().catch((err) => logger.warn({ err }, 'error while stopping'));
  };
  let done: Promise<void> = new Promise(() => undefined);
  let ingester: Ingester | undefined;
  let worker: Worker | undefined;
  // A worker and an ingester in one process (`idem consume`): the worker tells the ingester what it
  // settles, and ordering's waits end without asking the store.
  const localSettlements =
    roles.includes('worker') && roles.includes('ingester') ? new LocalSettlements() : undefined;

  const readiness = opts.readiness ?? new Readiness();
  const wait = { logger, readiness, ...(opts.signal ? { signal: opts.signal } : {}) };
  try {
    // OpenTelemetry, only with an OTLP endpoint configured; closed last, so its final flush
    // carries the spans of everything that stopped before it.
    const tracing = await startTracingFor(config, logger);
    if (tracing) closers.push(() => tracing.shutdown());
    if (opts.serveMetrics !== false && config.metricsPort > 0) {
      const sdk = opts.sdkMetricsAddress ? sdkMetricsReader(opts.sdkMetricsAddress) : undefined;
      closers.push(await serveMetrics(metrics.registry, config.metricsPort, undefined, readiness, sdk));
    }
    const kafka = createKafka(config, logger);
    const producer: Producer = kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await waitFor(
      'Kafka',
      'connect',
      async () => {
        await reachable(config.kafka.brokers);
        await producer.connect();
      },
      wait,
    );
    closers.push(() => producer.disconnect());
    // The source topics (the ingester reads them) and their dead-letter topics (the ingester and
    // the worker publish there) must exist: auto-creation is off.
    if (roles.includes('ingester') || roles.includes('worker'))
      await waitFor('Kafka', 'check topics', () => checkTopics(kafka, config.kafka.topics, true), wait);
    const dlq = createKafkaDlqPublisher(producer);

    let pool: Pool | undefined;
    if (roles.length > 0) {
      // Every role uses the store: the worker applies in it, the relay publishes from it, the
      // ingester asks it which events are applied and which have settled.
      pool = createPool({
        url: config.database.url,
        max: config.database.poolSize,
        logger,
        connectTimeoutMs: config.database.connectTimeoutMs,
        statementTimeoutMs: config.database.statementTimeoutMs,
        queryTimeoutMs: config.database.queryTimeoutMs,
        lockTimeoutMs: config.database.lockTimeoutMs,
        idleInTransactionTimeoutMs: config.database.idleInTransactionTimeoutMs,
      });
      const p = pool;
      closers.push(() => p.end());
      // Workers bring the schema up to date (advisory-locked, so concurrent starts are safe);
      // the other roles only wait until PostgreSQL answers.
      if (roles.includes('worker'))
        await waitFor('PostgreSQL', 'migrate', () => migrate(p, opts.migrations), wait);
      else await waitFor('PostgreSQL', 'connect', () => p.query('select 1'), wait);
    }

    if (roles.includes('relay') && pool) {
      const relay = createOutboxRelay({
        pool,
        producer,
        logger,
        metrics,
        backlogIntervalMs: config.monitoring.sampleIntervalMs,
      });
      relay.start();
      closers.push(() => relay.stop());
    }

    // protobufjs builds a message type's codec when it is first used: built now, the first
    // events after start-up do not wait for it (warm-codecs.ts).
    if (roles.includes('worker') || roles.includes('ingester')) {
      const began = Date.now();
      const types = warmProtobufCodecs();
      logger.debug({ types, ms: Date.now() - began }, 'protobuf codecs built');
    }

    let workerConnection: NativeConnection | undefined;
    if (roles.includes('worker') && pool && registry) {
      const p = pool;
      const reg = registry;
      const dataConverter = temporalDataConverter(config);
      const code = workflowCode(dataConverter !== undefined, tracing !== undefined);
      const createWorker = (connection: NativeConnection): Promise<Worker> =>
        Worker.create({
          connection,
          namespace: config.temporal.namespace,
          taskQueue: config.temporal.taskQueue,
          ...code,
          ...(tracing ? tracing.workerOptions('workflowsPath' in code) : {}),
          ...(dataConverter ? { dataConverter } : {}),
          maxConcurrentWorkflowTaskExecutions: config.worker.workflowTaskSlots,
          maxConcurrentLocalActivityExecutions: config.worker.localActivitySlots,
          maxCachedWorkflows: Math.max(config.worker.maxCachedWorkflows, config.worker.workflowTaskSlots),
          // Core keeps retrying a failing local activity after shutdown is requested, so a worker
          // whose handler keeps failing never finished shutting down (temporalio/sdk-rust#709):
          // running activities are cancelled after the grace time and the worker gives up after
          // the force time. Nothing is lost: the workflow task times out and another worker (or
          // this one's successor) carries on from the history.
          shutdownGraceTime: SHUTDOWN_GRACE,
          shutdownForceTime: SHUTDOWN_FORCE,
          activities: createActivities({
            pool: p,
            registry: reg,
            dlq,
            maxEventBytes: config.ingest.maxEventBytes,
            outboxTopic: config.kafka.outboxTopic,
            metrics,
            ...(localSettlements ? { settled: (key, as) => localSettlements.report(key, as) } : {}),
            prune: {
              pool: p,
              kafka,
              namespace: config.temporal.namespace,
              namespaceRetentionMs: () => namespaceRetentionMs(connection, config.temporal.namespace),
              topics: config.kafka.topics,
              retentionMs: config.dedup.retentionMs,
              batchSize: config.dedup.pruneBatchSize,
            },
          }),
        });
      const created = await waitFor(
        'Temporal',
        'connect the worker',
        temporalOnly(async () => {
          const connection = await NativeConnection.connect(temporalConnectionOptions(config));
          try {
            // The store must keep its dedup rows at least as long as Temporal keeps the workflows.
            await checkNamespaceRetention(connection, config.temporal.namespace, config.dedup.retentionMs);
            // A retrying event's workflow upserts IdemStage, IdemAttempts, IdemErrorClass.
            await checkSearchAttributes(connection, config.temporal.namespace);
            return { connection, worker: await createWorker(connection) };
          } catch (err) {
            await connection.close().catch(() => undefined);
            throw err;
          }
        }),
        wait,
      );
      workerConnection = created.connection;
      const connection = created.connection;
      closers.push(() => connection.close());
      worker = created.worker;
      const w = worker;
      done = w.run();
      closers.push(async () => {
        if (w.getState() === 'RUNNING') w.shutdown();
        await done.catch(() => undefined);
      });
      if (config.worker.warmUpWorkflows > 0) {
        const warm = await warmUpWorker(temporalClient(config, connection), {
          taskQueue: config.temporal.taskQueue,
          workflows: config.worker.warmUpWorkflows,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        const { error, ...fields } = warm;
        if (error !== undefined || warm.timedOut)
          logger.warn({ err: error, ...fields }, 'worker warm-up incomplete; going on with a cold worker');
        else logger.debug(fields, 'worker warmed up');
      }
      if (config.worker.reconcile.intervalMs > 0) {
        const reconciler = startReconciler(
          {
            client: temporalClient(config, connection),
            taskQueue: config.temporal.taskQueue,
            pool: p,
            dlq,
            logger,
            metrics,
          },
          config.worker.reconcile,
        );
        closers.push(() => reconciler.stop());
      }
      if (config.monitoring.stuckIntervalMs > 0) {
        const scanner = startStuckScanner(
          {
            client: temporalClient(config, connection),
            taskQueue: config.temporal.taskQueue,
            namespace: config.temporal.namespace,
            metrics,
            logger,
          },
          { intervalMs: config.monitoring.stuckIntervalMs, afterMs: config.monitoring.stuckAfterMs },
        );
        closers.push(() => scanner.stop());
      }
    }

    if (roles.includes('ingester')) {
      // With a worker in this process the client shares its connection, so starts can be eager:
      // the first workflow task comes back with the start's answer and runs here at once.
      let connection: NativeConnection | Connection | undefined = workerConnection;
      if (!connection) {
        const own = await waitFor(
          'Temporal',
          'connect the client',
          temporalOnly(() => Connection.connect(temporalConnectionOptions(config))),
          wait,
        );
        closers.push(() => own.close());
        connection = own;
      }
      const conn = connection;
      await waitFor(
        'Temporal',
        'check search attributes',
        temporalOnly(() => checkSearchAttributes(conn, config.temporal.namespace)),
        wait,
      );
      const client = temporalClient(config, connection, tracing?.clientInterceptors());
      ingester = new Ingester({
        kafka,
        client,
        config,
        dlq,
        logger,
        metrics,
        eagerStart: config.ingest.eagerStart && workerConnection !== undefined,
        ...(tracing ? { tracing } : {}),
        ...(pool && config.ingest.skipApplied
          ? { findApplied: (keys: string[]) => findApplied(pool as Pool, keys) }
          : {}),
        ...(pool
          ? {
              findSettled: (keys: string[]) => findSettled(pool as Pool, keys),
              ...(localSettlements ? { localSettlements } : {}),
              parking: pgParkingStore(pool),
              rejections: {
                published: (at) => rejectionPublished(pool as Pool, at),
                record: (at) => recordRejectionPublished(pool as Pool, at),
              },
            }
          : {}),
      });
      const ing = ingester;
      await waitFor('Kafka', 'join the consumer group', () => ing.start(), wait);
      closers.push(() => ing.stop());
      metrics.setIngestPartitions(() => ing.partitionWindows());
      const lagFailed = throttledWarn(logger, 'sampling the consumer lag failed; retrying');
      const lag = startLagSampler({
        kafka,
        groupId: config.kafka.groupId,
        partitions: () => ing.assignment(),
        gauge: metrics.consumerLag,
        intervalMs: config.monitoring.sampleIntervalMs,
        onError: lagFailed,
      });
      closers.push(async () => {
        metrics.setIngestPartitions(undefined);
        await lag.stop();
      });
    }
    readiness.markStarted();
  } catch (err) {
    await closeAll();
    throw err;
  }

  return { metrics, ingester, worker, done, readiness, stop: closeAll };
}

/** Waiting helps only when Temporal is unreachable; any other error (a bad workflow bundle,
 * a namespace that does not exist) is thrown at once. */
function temporalOnly<T>(attempt: () => Promise<T>): () => Promise<T> {
  return () =>
    attempt().catch((err: unknown) => {
      throw isTemporalUnreachable(err) ? err : new NotTransientError(err);
    });
}

/**
 * The workflow bundle the build wrote (scripts/bundle-workflows.js), or, run from source
 * (the tests), the workflows' path for the worker to bundle at start-up (with the same entry,
 * src/temporal/workflow-bundle.ts). With payload encryption
 * the bundle is the one whose failure converter encodes messages and stack traces (a bundle
 * cannot take a failure converter at start-up); with tracing, the one with Temporal's
 * OpenTelemetry workflow interceptors (a bundle's interceptor modules are fixed when it is built,
 * and a worker without tracing runs none).
 */
export function workflowCode(
  encrypted: boolean,
  traced: boolean,
):
  | { workflowBundle: { codePath: string } }
  | { workflowsPath: string; bundlerOptions: { webpackConfigHook: typeof webpackConfigHook } } {
  const bundle = path.join(
    __dirname,
    '..',
    `workflow-bundle${encrypted ? '-encrypted' : ''}${traced ? '-traced' : ''}.js`,
  );
  return __filename.endsWith('.js') && fs.existsSync(bundle)
    ? { workflowBundle: { codePath: bundle } }
    : { workflowsPath: require.resolve('./workflows'), bundlerOptions: { webpackConfigHook } };
}
