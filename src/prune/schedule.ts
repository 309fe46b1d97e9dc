/**
 * The prune as a Temporal Schedule: every interval (a day by default) the schedule starts the
 * pruneDedupStore workflow on the workers' task queue, whose activity runs the same prune as
 * `idem prune` with the worker's configuration. One schedule per task queue; installing again
 * updates it. A run still going when the next is due makes the schedule skip that one.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
} from '@temporalio/client';
import type { PruneInput } from './types';

/** The workflow type the schedule starts (src/workflows/prune.ts). */
export const PRUNE_WORKFLOW = 'pruneDedupStore';

export function pruneScheduleId(taskQueue: string): string {
  return `idem-prune-${taskQueue}`;
}

export interface PruneScheduleOptions {
  taskQueue: string;
  /** @default a day */
  everyMs?: number;
  input?: PruneInput;
}

function scheduleOptions(o: PruneScheduleOptions): ScheduleOptions {
  return {
    scheduleId: pruneScheduleId(o.taskQueue),
    spec: { intervals: [{ every: o.everyMs ?? 86_400_000 }] },
    action: {
      type: 'startWorkflow',
      workflowType: PRUNE_WORKFLOW,
      taskQueue: o.taskQueue,
      workflowId: `idem-prune-${o.taskQueue}`,
      args: [o.input ?? {}],
    },
    // A prune is idempotent and the next one catches up: never run two at once, and after an
    // outage of Temporal run at most the one that was due.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
  };
}

/** Creates the schedule, or updates it to these options when it exists. */
export async function installPruneSchedule(
  client: Client,
  o: PruneScheduleOptions,
): Promise<{ scheduleId: string; created: boolean }> {
  const options = scheduleOptions(o);
  try {
    await client.schedule.create(options);
    return { scheduleId: options.scheduleId, created: true };
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(options.scheduleId).update((prev) => ({
    ...prev,
    spec: options.spec,
    action: options.action,
    policies: { ...prev.policies, ...options.policies },
  }));
  return { scheduleId: options.scheduleId, created: false };
}

/** Deletes the schedule; false when there was none. */
export async function removePruneSchedule(client: Client, taskQueue: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(pruneScheduleId(taskQueue)).delete();
    return true;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return false;
    throw err;
  }
}

/** The schedule as Temporal describes it; undefined when there is none. */
export async function describePruneSchedule(
  client: Client,
  taskQueue: string,
): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(pruneScheduleId(taskQueue)).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

/** Runs the schedule's action now (a prune now, on a worker). */
export async function triggerPruneSchedule(client: Client, taskQueue: string): Promise<void> {
  await client.schedule.getHandle(pruneScheduleId(taskQueue)).trigger(ScheduleOverlapPolicy.SKIP);
}
