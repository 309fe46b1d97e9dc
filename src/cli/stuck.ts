/**
 * `idem stuck [--older-than D]`: the event workflows of this task queue still running after D
 * (default IDEM_STUCK_AFTER_MS), and those waiting out a PostgreSQL outage, the oldest first, each
 * with its Temporal Web link (src/observability/stuck.ts). Exit code 0 when none is stuck, 1 when
 * some are, 2 when it cannot tell (Temporal does not answer, a bad argument).
 */
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { InvalidArgumentError } from '../errors';
import { escapeControls } from '../events/utf8';
import { formatDuration, parseDuration } from '../observability/duration';
import { findStuck, type StuckReport } from '../observability/stuck';
import {
  EXIT_ATTENTION,
  EXIT_CANNOT_RUN,
  EXIT_OK,
  operatorTemporal,
  runOperatorCommand,
  temporalDown,
} from './operator-clients';

interface StuckOpts {
  olderThan?: string;
  limit?: string;
  json?: boolean;
}

export function registerStuckCommand(program: Command): void {
  program
    .command('stuck')
    .description(
      'list the stuck events: event workflows of this task queue still running after --older-than ' +
        '(default IDEM_STUCK_AFTER_MS) or waiting out a PostgreSQL outage, the oldest first, with their ' +
        'Temporal Web links; exit 0 when none, 1 when some, 2 when Temporal does not answer',
    )
    .option(
      '--older-than <duration>',
      'running for longer than this: 30s, 5m, 2h (default IDEM_STUCK_AFTER_MS)',
    )
    .option('--limit <n>', 'list at most this many (default 100); the count covers all of them')
    .option('--json', 'the report as JSON on stdout')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_CANNOT_RUN))
    .action((o: StuckOpts) => runOperatorCommand('stuck', () => stuck(o)));
}

async function stuck(o: StuckOpts): Promise<number> {
  const olderThanMs = o.olderThan === undefined ? undefined : parseDuration(o.olderThan, '--older-than');
  const limit = o.limit === undefined ? 100 : Number(o.limit);
  if (!Number.isInteger(limit) || limit < 0)
    throw new InvalidArgumentError(`--limit ${o.limit}: expected a whole number`);
  const config = loadConfig();
  const temporal = await operatorTemporal(config).catch((err: unknown) => {
    throw temporalDown(config, err);
  });
  try {
    const report = await findStuck(temporal.client, {
      taskQueue: config.temporal.taskQueue,
      namespace: config.temporal.namespace,
      webUrl: config.temporal.webUrl,
      olderThanMs: olderThanMs ?? config.monitoring.stuckAfterMs,
      limit,
    }).catch((err: unknown) => {
      throw temporalDown(config, err);
    });
    console.log(o.json ? JSON.stringify(report, null, 2) : formatStuck(report, config.temporal.taskQueue));
    return report.count > 0 ? EXIT_ATTENTION : EXIT_OK;
  } finally {
    await temporal.close().catch(() => undefined);
  }
}

/** `stage retrying, 2 failed attempt(s), last error Error`: IdemStage, IdemAttempts,
 * IdemErrorClass as the workflow last recorded them (not set on a workflow that has not failed yet). */
export function stageLine(e: { stage?: string; attempts?: number; errorClass?: string }): string {
  const t = escapeControls;
  return (
    `stage ${t(e.stage ?? '-')}` +
    (e.attempts !== undefined ? `, ${e.attempts} failed attempt(s)` : '') +
    (e.errorClass !== undefined ? `, last error ${t(e.errorClass)}` : '')
  );
}

/** The report for a terminal; what it quotes from the event (type, key, source) is escaped. */
export function formatStuck(r: StuckReport, taskQueue: string): string {
  const t = escapeControls;
  const what = `running for more than ${formatDuration(r.olderThanMs)}, or waiting out a PostgreSQL outage`;
  if (r.count === 0) return `no stuck event on task queue ${t(taskQueue)} (${what})`;
  const lines = [
    `${r.count} stuck event(s) on task queue ${t(taskQueue)} (${what}); the oldest for ${formatDuration(r.oldestAgeMs)}`,
  ];
  for (const e of r.events) {
    lines.push(
      '',
      t(e.workflowId),
      `  type ${t(e.type ?? '-')}  key ${e.key === undefined ? '-' : t(JSON.stringify(e.key))}  source ${t(e.source ?? '-')}`,
      `  running for ${formatDuration(e.ageMs)} (started ${e.startTime.toISOString()})${e.outcome ? `  IdemOutcome ${t(e.outcome)}` : ''}`,
      ...(e.stage !== undefined ? [`  ${stageLine(e)}`] : []),
      `  ${e.webUrl}`,
    );
  }
  if (r.events.length < r.count)
    lines.push(
      '',
      `(${r.events.length} of ${r.count} shown${r.truncated ? ', the oldest of the first 1000 listed' : ''}; --limit shows more)`,
    );
  lines.push('', 'Why one is stuck: idem inspect <workflow ID>; runbook: docs/operations.md');
  return lines.join('\n');
}
