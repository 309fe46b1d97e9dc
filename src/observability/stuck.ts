/**
 * Stuck events: event workflows of this task queue still running long after they started. An
 * event normally settles in milliseconds; one that runs for minutes waits on something an
 * operator should see: a handler that hangs, a dead-lettering that cannot reach Kafka, a worker
 * that no longer polls the task queue, a claim held by a frozen worker, a PostgreSQL outage.
 *
 * Asked of Temporal's visibility, so it sees the workflows of every ingester and worker:
 *
 *   WorkflowType = "processEvent" AND TaskQueue = "<queue>" AND ExecutionStatus = "Running"
 *     AND (StartTime < "<now - threshold>" OR IdemOutcome = "store_unavailable")
 *
 * A workflow waiting out a PostgreSQL outage (`IdemOutcome = "store_unavailable"`) counts at
 * once, whatever its age: it holds its key until the database is back. Visibility cannot ask for
 * "an activity past N attempts": applyEvent runs as a local activity whose attempts the workflow
 * counts itself, and they end at IDEM_MAX_ATTEMPTS in a dead-lettering (a failed workflow, not a
 * stuck one); the attempts that never end are the outage's and the held claim's, and an event
 * that waits on those for longer than the threshold is stuck by its age.
 *
 * Used by the worker's scanner (`idem_stuck_events`, `idem_stuck_oldest_age_seconds`), by
 * `idem stuck` and by `idem status`.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { Gauge } from 'prom-client';
import {
  IdemAttempts,
  IdemErrorClass,
  IdemEventKey,
  IdemEventType,
  IdemOutcome,
  IdemSource,
  IdemStage,
} from '../workflows/search-attributes';
import { PROCESS_EVENT_WORKFLOW } from '../workflows/types';
import type { Logger } from './logger';
import { runPeriodically } from './periodic';
import { throttledWarn } from './logger';

const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** This task queue's event workflows that are running. */
export function runningQuery(taskQueue: string): string {
  return (
    `WorkflowType = ${quote(PROCESS_EVENT_WORKFLOW)} AND TaskQueue = ${quote(taskQueue)} ` +
    'AND ExecutionStatus = "Running"'
  );
}

/** The visibility query of the stuck events: running and started before `startedBefore`, or
 * waiting out a PostgreSQL outage whatever their age. */
export function stuckQuery(taskQueue: string, startedBefore: Date): string {
  return (
    `${runningQuery(taskQueue)} AND (StartTime < ${quote(startedBefore.toISOString())} ` +
    `OR ${IdemOutcome.name} = "store_unavailable")`
  );
}

/** The page of a workflow run in Temporal Web. */
export function workflowWebUrl(webUrl: string, namespace: string, workflowId: string, runId: string): string {
  return (
    `${webUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}` +
    `/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`
  );
}

/** What an event workflow's search attributes say (those it carries; the others are left out):
 * what `idem stuck` and `idem inspect` show of it. */
export interface IdemAttributes {
  /** The event's type, key and source (search attributes IdemEventType, IdemEventKey, IdemSource). */
  type?: string;
  key?: string;
  source?: string;
  /** IdemOutcome when set: store_unavailable while PostgreSQL is down. */
  outcome?: string;
  /** IdemStage, IdemAttempts and IdemErrorClass when set (after a failed attempt or a wait:
   * retrying, waiting_for_store, waiting_for_claim, dead_lettering). */
  stage?: string;
  attempts?: number;
  errorClass?: string;
}

export interface StuckEvent extends IdemAttributes {
  workflowId: string;
  runId: string;
  startTime: Date;
  /** now − startTime, in ms (since this run's start: a run continued as new during a long
   * outage starts a new run, and its IdemOutcome keeps it in the list). */
  ageMs: number;
  /** Its page in Temporal Web. */
  webUrl: string;
}

export interface StuckReport {
  /** The threshold asked with. */
  olderThanMs: number;
  /** Stuck workflows (a visibility count: eventually consistent, like every visibility answer). */
  count: number;
  /** Age of the oldest, 0 when none; within 1 % (or 1 s) when more than `listLimit` are stuck. */
  oldestAgeMs: number;
  /** The oldest first, at most `limit` of them. */
  events: StuckEvent[];
  /** More are stuck than were listed (`listLimit`): `events` are the oldest of those listed. */
  truncated: boolean;
}

export interface FindStuckOptions {
  taskQueue: string;
  namespace: string;
  /** Temporal Web, for the links. */
  webUrl: string;
  olderThanMs: number;
  /** How many events to return, the oldest first. @default 100 */
  limit?: number;
  /** How many workflows to list at most; beyond, the oldest age is found with counts. @default 1000 */
  listLimit?: number;
  now?: number;
}

/**
 * The stuck events of a task queue. Visibility lists running workflows newest first and cannot
 * sort them, so all of them are listed (one page of up to `listLimit`) to find the oldest; when
 * more are stuck than that (a long outage), the count comes from CountWorkflowExecutions and the
 * oldest start from a search by counts (about 20 count queries).
 */
export async function findStuck(client: Client, o: FindStuckOptions): Promise<StuckReport> {
  const now = o.now ?? Date.now();
  const listLimit = o.listLimit ?? 1000;
  const query = stuckQuery(o.taskQueue, new Date(now - o.olderThanMs));
  const listed: StuckEvent[] = [];
  let truncated = false;
  for await (const wf of client.workflow.list({ query, pageSize: Math.min(listLimit, 1000) })) {
    if (listed.length >= listLimit) {
      truncated = true;
      break;
    }
    listed.push(stuckEvent(wf, o, now));
  }
  listed.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  let count = listed.length;
  let oldestAgeMs = listed[0]?.ageMs ?? 0;
  if (truncated) {
    count = (await client.workflow.count(query)).count;
    const oldest = await oldestStart(
      client,
      query,
      listed[0]?.startTime.getTime() ?? now,
      o.olderThanMs,
      now,
    );
    oldestAgeMs = Math.max(oldestAgeMs, now - oldest);
  }
  return {
    olderThanMs: o.olderThanMs,
    count,
    oldestAgeMs,
    events: listed.slice(0, o.limit ?? 100),
    truncated,
  };
}

export function idemAttributesOf(sa: WorkflowExecutionInfo['typedSearchAttributes']): IdemAttributes {
  const found: IdemAttributes = {
    type: sa.get(IdemEventType),
    key: sa.get(IdemEventKey),
    source: sa.get(IdemSource),
    outcome: sa.get(IdemOutcome),
    stage: sa.get(IdemStage),
    attempts: sa.get(IdemAttempts),
    errorClass: sa.get(IdemErrorClass),
  };
  return Object.fromEntries(Object.entries(found).filter(([, v]) => v !== undefined)) as IdemAttributes;
}

function stuckEvent(wf: WorkflowExecutionInfo, o: FindStuckOptions, now: number): StuckEvent {
  return {
    workflowId: wf.workflowId,
    runId: wf.runId,
    startTime: wf.startTime,
    ageMs: Math.max(0, now - wf.startTime.getTime()),
    ...idemAttributesOf(wf.typedSearchAttributes),
    webUrl: workflowWebUrl(o.webUrl, o.namespace, wf.workflowId, wf.runId),
  };
}

/**
 * The start time of the oldest workflow `query` matches, found with counts: some match started
 * before `knownStart + 1 ms`; go back in doubling steps until none started before, then halve the
 * interval until it is within 1 % of the age (at least 1 s). Returns the interval's middle.
 */
async function oldestStart(
  client: Client,
  query: string,
  knownStart: number,
  stepMs: number,
  now: number,
): Promise<number> {
  const anyBefore = async (t: number) =>
    (await client.workflow.count(`${query} AND StartTime < ${quote(new Date(t).toISOString())}`)).count > 0;
  let hi = knownStart + 1;
  let step = Math.max(stepMs, 60_000);
  let lo = hi - step;
  for (let i = 0; i < 40 && lo > 0 && (await anyBefore(lo)); i++) {
    hi = lo;
    step *= 2;
    lo = Math.max(0, hi - step);
  }
  while (hi - lo > Math.max(1_000, (now - hi) / 100)) {
    const mid = Math.floor((lo + hi) / 2);
    if (await anyBefore(mid)) hi = mid;
    else lo = mid;
  }
  return Math.floor((lo + hi) / 2);
}

export interface StuckScannerDeps {
  client: Client;
  taskQueue: string;
  namespace: string;
  metrics: { stuckEvents: Gauge; stuckOldestAge: Gauge };
  logger: Logger;
}

/**
 * The worker's stuck-event scanner: every `intervalMs` (first at once) publishes the stuck count
 * and the oldest age as gauges. A pass that fails (Temporal unreachable) keeps the last values
 * and is logged, once per 10 s at most.
 */
export function startStuckScanner(
  deps: StuckScannerDeps,
  o: { intervalMs: number; afterMs: number },
): { stop(): Promise<void>; scan(): Promise<StuckReport> } {
  const log = deps.logger.child({ component: 'stuck-scanner' });
  const failed = throttledWarn(log, 'stuck-event scan failed; trying again at the next interval');
  const scan = async () => {
    const report = await findStuck(deps.client, {
      taskQueue: deps.taskQueue,
      namespace: deps.namespace,
      webUrl: '',
      olderThanMs: o.afterMs,
      limit: 0,
    });
    deps.metrics.stuckEvents.set(report.count);
    deps.metrics.stuckOldestAge.set(report.oldestAgeMs / 1000);
    return report;
  };
  const job = runPeriodically(scan, { intervalMs: o.intervalMs, onError: failed });
  return { stop: () => job.stop(), scan };
}
