/**
 * The Temporal SDK's own log lines (worker and activity events: "Activity failed", "Workflow
 * failed", ...) go through idem's logger as one JSON line each, instead of the SDK's default
 * multi-line console output. The same failure repeated (every local-activity attempt during a
 * PostgreSQL outage logs one) is logged once, then once per 10 s with how many were left out: a
 * 25 s outage under two consumers wrote 44,000 console lines before.
 */
import { DefaultLogger, type LogEntry } from '@temporalio/worker';
import { repeatLimiter, type Logger } from './logger';

type SdkLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

const PINO_METHOD = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

export function temporalSdkLogger(
  logger: Logger,
  level: SdkLevel,
  opts: { repeatIntervalMs?: number; now?: () => number } = {},
): DefaultLogger {
  const log = logger.child({ component: 'temporal-sdk' });
  const letThrough = repeatLimiter(opts.repeatIntervalMs ?? 10_000, opts.now);
  return new DefaultLogger(level, (entry: LogEntry) => {
    const meta = (entry.meta ?? {}) as Record<string, unknown>;
    const err = meta.error;
    const errorText = err instanceof Error ? err.message : err === undefined ? '' : String(err);
    // one key per kind of failure, not per event: activity type and error text without numbers
    const suppressed = letThrough(
      `${entry.level}|${entry.message}|${String(meta.activityType ?? meta.workflowType ?? '')}|${errorText.replace(/\d+/g, 'N')}`,
    );
    if (suppressed === undefined) return;
    const { error: _e, ...rest } = meta;
    log[PINO_METHOD[entry.level as SdkLevel] ?? 'info'](
      { ...rest, ...(err !== undefined ? { err } : {}), ...(suppressed > 0 ? { suppressed } : {}) },
      entry.message,
    );
  });
}
