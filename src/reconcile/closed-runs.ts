/**
 * Events whose workflow ended without running any of its code: an operator's terminate (Temporal
 * Web, `temporal workflow terminate`) or a run timeout. Cancel and reset run workflow code (the
 * workflow dead-letters a cancelled event; a reset run is a redrive); a terminated run does not, so
 * before this nothing recorded the event: no processed_events row, no dead-letter record, its
 * offset committed, and with ordering on its key waited for a settlement that never came.
 *
 * The worker's reconciler lists such runs from Temporal's visibility every interval, over a
 * look-back window, and dead-letters each event that has no dedup record yet with reason
 * `terminated` (redrivable), from the workflow's own input: the original record, unchanged. Runs
 * replaced by a newer run of the same workflow ID (a reset terminates the run it resets) are left
 * alone. Several workers may find the same run: the dead-lettering is one per run (dead-letter id
 * `run:<runId>`), and copies collapse when read.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import type { Pool } from 'pg';

import { deadLetterRun, type DeadLetterMetrics } from '../activities/dead-letter';
import type { DlqPublisher } from '../dlq/publisher';
import { workflowIdFor } from '../events/identity';
import type { Logger } from '../observability/logger';
import { runPeriodically, type Periodic } from '../observability/periodic';
import { getProcessedEvent } from '../store/sql/get-processed-event';
import { PROCESS_EVENT_WORKFLOW, type ProcessEventInput } from '../workflows/types';

export interface ReconcilerDeps {
  client: Client;
  taskQueue: string;
  pool: Pool;
  dlq: DlqPublisher;
  logger: Logger;
  metrics?: DeadLetterMetrics;
}

export interface ReconcileResult {
  /** Closed runs looked at (terminated or timed out). */
  examined: number;
  /** Events dead-lettered now. */
  deadLettered: number;
}

/** The visibility query of the runs to look at: this task queue's event workflows that ended
 * terminated or timed out since `since`. */
export function closedRunsQuery(taskQueue: string, since: Date): string {
  return (
    `WorkflowType = "${PROCESS_EVENT_WORKFLOW}" AND TaskQueue = "${taskQueue.replace(/"/g, '\\"')}" ` +
    `AND ExecutionStatus IN ("Terminated", "TimedOut") AND CloseTime >= "${since.toISOString()}"`
  );
}

/** One pass: dead-letters each event of a terminated or timed-out run that has no outcome. */
export async function reconcileClosedRuns(deps: ReconcilerDeps, since: Date): Promise<ReconcileResult> {
  const result: ReconcileResult = { examined: 0, deadLettered: 0 };
  for await (const run of deps.client.workflow.list({ query: closedRunsQuery(deps.taskQueue, since) })) {
    result.examined++;
    if (await reconcileRun(deps, run)) result.deadLettered++;
  }
  return result;
}

async function reconcileRun(deps: ReconcilerDeps, run: WorkflowExecutionInfo): Promise<boolean> {
  const { workflowId, runId } = run;
  // An event workflow's ID is its dedup key: a run whose event has its row needs no more reading
  // (every pass sees the day's terminated runs again). A redrive's own ID goes on to its input.
  if (await getProcessedEvent(deps.pool, workflowId)) return false;
  // A newer run of this workflow ID owns the event (a reset ends the run it resets as terminated).
  const latest = await deps.client.workflow.getHandle(workflowId).describe();
  if (latest.runId !== runId) return false;
  const history = await deps.client.workflow.getHandle(workflowId, runId).fetchHistory();
  const events = history.events ?? [];
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  const [input] = (await decodeArrayFromPayloads(
    deps.client.workflow.options.loadedDataConverter,
    started?.input?.payloads,
  )) as [ProcessEventInput | undefined];
  if (!input?.event || !input.message) {
    deps.logger.warn({ workflowId, runId }, 'reconciler: a closed run without an event input; left alone');
    return false;
  }
  const dedupKey = workflowIdFor(input.event.source, input.event.id);
  if (await getProcessedEvent(deps.pool, dedupKey)) return false; // applied, or dead-lettered already

  const end = events[events.length - 1];
  const terminated = end?.workflowExecutionTerminatedEventAttributes;
  const error = terminated
    ? `the event workflow was terminated before it applied the event` +
      `${terminated.identity ? ` by ${terminated.identity}` : ''}` +
      `${terminated.reason ? ` (reason: ${terminated.reason})` : ''}`
    : `the event workflow ended ${String(run.status.name).toLowerCase()} before it applied the event`;
  await deadLetterRun(
    deps,
    { event: input.event, message: input.message, reason: 'terminated', error, attempts: 0 },
    {
      workflowId,
      runId,
      warn: (msg, meta) => deps.logger.warn(meta, msg),
      stage: 'reconciler',
    },
  );
  deps.logger.warn(
    { workflowId, runId, dedupKey, error },
    'reconciler: dead-lettered the event of a workflow that ended without an outcome',
  );
  return true;
}

/**
 * Runs {@link reconcileClosedRuns} every `intervalMs` over the last `lookBackMs`, until stopped.
 * A pass that fails (Temporal or PostgreSQL down) is logged and tried again at the next interval.
 */
export function startReconciler(
  deps: ReconcilerDeps,
  o: { intervalMs: number; lookBackMs: number },
): Periodic {
  return runPeriodically(() => reconcileClosedRuns(deps, new Date(Date.now() - o.lookBackMs)), {
    intervalMs: o.intervalMs,
    firstRunAtOnce: false,
    onError: (err) =>
      deps.logger.warn({ err }, 'reconciler: a pass failed; trying again at the next interval'),
  });
}
