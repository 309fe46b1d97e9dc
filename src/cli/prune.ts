/**
 * `idem prune`: deletes processed_events rows past the dedup retention (IDEM_DEDUP_RETENTION) in
 * batches, keeping what a dead-letter record or a parked key still needs, then the ingest_rejections
 * rows as old (src/prune/prune.ts);
 * `--schedule install|remove|show|trigger` manages the Temporal Schedule that runs the same prune
 * on the workers every day.
 */
import { Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { createKafka } from '../app';
import { loadConfig, type Config } from '../config';
import { InvalidArgumentError } from '../errors';
import { createLogger } from '../observability/logger';
import { formatRetention, parseRetention } from '../prune/duration';
import { prune } from '../prune/prune';
import { renderOutcome, renderPlan, renderProgress } from '../prune/render';
import {
  describePruneSchedule,
  installPruneSchedule,
  pruneScheduleId,
  removePruneSchedule,
  triggerPruneSchedule,
} from '../prune/schedule';
import { createPool } from '../store/pool';
import { temporalClient, temporalConnectionOptions } from '../temporal/connection';
import { checkNamespaceRetention } from '../temporal/namespace-retention';

interface PruneOpts {
  dryRun?: boolean;
  json?: boolean;
  batchSize?: string;
  schedule?: string;
  every?: string;
}

const SCHEDULE_ACTIONS = ['install', 'remove', 'show', 'trigger'] as const;
type ScheduleAction = (typeof SCHEDULE_ACTIONS)[number];

function batchSizeOf(o: PruneOpts, config: Config): number {
  if (o.batchSize === undefined) return config.dedup.pruneBatchSize;
  const n = Number(o.batchSize);
  if (!Number.isInteger(n) || n <= 0 || n > 100_000)
    throw new InvalidArgumentError(`--batch-size ${o.batchSize}: expected a whole number from 1 to 100000`);
  return n;
}

async function withTemporal<T>(config: Config, fn: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await Connection.connect(temporalConnectionOptions(config));
  try {
    return await fn(connection);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function runPrune(config: Config, o: PruneOpts): Promise<void> {
  const logger = createLogger(config.logLevel);
  const batchSize = batchSizeOf(o, config);
  const pool = createPool({
    url: config.database.url,
    max: 1,
    logger,
    connectTimeoutMs: config.database.connectTimeoutMs,
    statementTimeoutMs: config.database.statementTimeoutMs,
    queryTimeoutMs: config.database.queryTimeoutMs,
    lockTimeoutMs: config.database.lockTimeoutMs,
  });
  const kafka = createKafka(config, logger, 'idem-prune');
  // Ctrl-C stops between two batches: what is deleted stays deleted, the rest waits for the next run.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await withTemporal(config, async (connection) => {
      let lastProgress = 0;
      const report = await prune(
        {
          pool,
          kafka,
          namespace: config.temporal.namespace,
          namespaceRetentionMs: () =>
            checkNamespaceRetention(connection, config.temporal.namespace, config.dedup.retentionMs),
          topics: config.kafka.topics,
        },
        {
          retentionMs: config.dedup.retentionMs,
          batchSize,
          dryRun: o.dryRun === true,
          signal: stop.signal,
          onPlan: (plan) => {
            if (o.json) return;
            console.log(renderPlan(plan));
            if (!plan.dryRun && plan.prunable + plan.rejectionsPrunable > 0)
              console.log(
                `deleting ${plan.prunable.toLocaleString('en-US')} rows and ` +
                  `${plan.rejectionsPrunable.toLocaleString('en-US')} rejection rows in batches of ${batchSize}`,
              );
          },
          onBatch: (p) => {
            // Progress on stderr (stdout stays the report), at most one line a second.
            const lastOfEvents = p.deleted >= p.prunable && p.rejectionsDeleted === 0;
            if (Date.now() - lastProgress < 1000 && !lastOfEvents) return;
            lastProgress = Date.now();
            process.stderr.write(renderProgress(p) + '\n');
          },
        },
      );
      console.log(o.json ? JSON.stringify(report, null, 2) : renderOutcome(report));
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await pool.end().catch(() => undefined);
  }
}

async function runSchedule(config: Config, action: ScheduleAction, o: PruneOpts): Promise<void> {
  const everyMs = o.every === undefined ? 86_400_000 : parseRetention(o.every);
  if (everyMs === undefined || everyMs < 60_000)
    throw new InvalidArgumentError(
      `--every ${o.every}: expected a duration of a minute or more, such as 1d or 6h`,
    );
  const batchSize = o.batchSize === undefined ? undefined : batchSizeOf(o, config);
  const taskQueue = config.temporal.taskQueue;
  const scheduleId = pruneScheduleId(taskQueue);
  await withTemporal(config, async (connection) => {
    // The schedule's runs use the workers' configuration; this one's is checked here too.
    await checkNamespaceRetention(connection, config.temporal.namespace, config.dedup.retentionMs);
    const client = temporalClient(config, connection);
    const print = (result: Record<string, unknown>, line: string) =>
      console.log(o.json ? JSON.stringify({ scheduleId, taskQueue, ...result }, null, 2) : line);
    switch (action) {
      case 'install': {
        const { created } = await installPruneSchedule(client, {
          taskQueue,
          everyMs,
          input: { ...(batchSize ? { batchSize } : {}), ...(o.dryRun ? { dryRun: true } : {}) },
        });
        print(
          { installed: true, created, everyMs },
          `${created ? 'installed' : 'updated'} Temporal Schedule ${scheduleId}: prunes the dedup store every ` +
            `${formatRetention(everyMs)} on task queue ${taskQueue} (workflow pruneDedupStore; a worker of that ` +
            `task queue runs it with its own IDEM_DEDUP_RETENTION). Run one now: idem prune --schedule trigger`,
        );
        return;
      }
      case 'remove': {
        const removed = await removePruneSchedule(client, taskQueue);
        print(
          { removed },
          removed ? `removed Temporal Schedule ${scheduleId}` : `no Temporal Schedule ${scheduleId}`,
        );
        if (!removed) process.exitCode = 1;
        return;
      }
      case 'trigger': {
        await triggerPruneSchedule(client, taskQueue);
        print(
          { triggered: true },
          `triggered ${scheduleId}: a pruneDedupStore workflow runs now on task queue ${taskQueue}`,
        );
        return;
      }
      case 'show': {
        const d = await describePruneSchedule(client, taskQueue);
        if (!d) {
          print(
            { installed: false },
            `no Temporal Schedule ${scheduleId} (install it: idem prune --schedule install)`,
          );
          process.exitCode = 1;
          return;
        }
        const recent = d.info.recentActions.map((a) => ({
          takenAt: a.takenAt.toISOString(),
          workflowId: a.action.workflow.workflowId,
        }));
        const next = d.info.nextActionTimes.map((t) => t.toISOString());
        print(
          { installed: true, paused: d.state.paused, recent, next },
          [
            `Temporal Schedule ${scheduleId}${d.state.paused ? ' (paused)' : ''}, task queue ${taskQueue}`,
            `  next runs: ${next.slice(0, 3).join(', ') || 'none'}`,
            `  recent runs: ${recent.map((r) => `${r.takenAt} ${r.workflowId}`).join(', ') || 'none yet'}`,
          ].join('\n'),
        );
        return;
      }
    }
  });
}

export function registerPruneCommand(program: Command): void {
  program
    .command('prune')
    .description(
      'delete processed_events rows past IDEM_DEDUP_RETENTION in batches (never one a dead-letter record may still redrive), or manage its daily Temporal Schedule',
    )
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .option('--batch-size <rows>', 'rows per delete statement (default IDEM_PRUNE_BATCH_SIZE)')
    .option(
      '--schedule <action>',
      `the Temporal Schedule that prunes on the workers: ${SCHEDULE_ACTIONS.join(', ')}`,
    )
    .option('--every <duration>', 'with --schedule install: how often it runs (default 1d)')
    .option('--json', 'machine-readable output')
    .action(async (o: PruneOpts) => {
      const config = loadConfig();
      if (o.schedule === undefined) {
        if (o.every !== undefined) throw new InvalidArgumentError('--every goes with --schedule install');
        return runPrune(config, o);
      }
      if (!(SCHEDULE_ACTIONS as readonly string[]).includes(o.schedule))
        throw new InvalidArgumentError(
          `--schedule ${o.schedule}: expected one of ${SCHEDULE_ACTIONS.join(', ')}`,
        );
      return runSchedule(config, o.schedule as ScheduleAction, o);
    });
}
