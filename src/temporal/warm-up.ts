/**
 * A worker's warm-up, before its process takes events (`idem consume`, `idem worker`): a few
 * idemWarmUp workflows (src/workflows/warm-up.ts), started eagerly on the worker's connection.
 *
 * A worker's first workflow tasks are slow: its workflow thread compiles the bundle's functions
 * as they are first called, parses the source map at the first stack trace, and builds the
 * protobuf codecs; the first local activity does the same on the main thread. On the reference
 * machine that took the workflow thread about 0.8 s of CPU, and a backlog's first events waited
 * about 0.9 s for it. Meanwhile their workflows held every workflow-task slot, so the starts after
 * them could not be eager and went through matching, where some waited seconds more
 * (docs/performance.md). Warmed up, the process joins its consumer group ready to work at speed,
 * which matters most after a deploy or a rebalance, when a backlog waits for it.
 */
import os from 'node:os';
import type { Client } from '@temporalio/client';
import { WARM_UP_WORKFLOW, type WarmUpProbe } from '../workflows/types';

export interface WarmUpOptions {
  taskQueue: string;
  /** Warm-up workflows to run in all (IDEM_WARM_UP_WORKFLOWS). */
  workflows: number;
  /** How many run at once. @default 4 */
  concurrency?: number;
  /** Longest the warm-up may take: start-up goes on after it, and what is not done by then
   * finishes on its own. @default 10000 */
  timeoutMs?: number;
  /** Ends the warm-up at once (SIGTERM during start-up). */
  signal?: AbortSignal;
  /** The workflow to run (`idem bench`'s baselines warm up with their own). @default idemWarmUp */
  workflowType?: string;
  /** Ask for eager starts: the client shares the worker's NativeConnection. @default true */
  eager?: boolean;
}

export interface WarmUpReport {
  /** Warm-up workflows that completed in time. */
  completed: number;
  /** Of those, how many were started eagerly. */
  eager: number;
  ms: number;
  timedOut: boolean;
  /** The first failure, which stopped the warm-up (start-up goes on regardless). */
  error?: unknown;
}

/** Runs the warm-up workflows; never throws: a warm-up that fails only leaves the worker cold. */
export async function warmUpWorker(client: Client, o: WarmUpOptions): Promise<WarmUpReport> {
  const began = performance.now();
  const timeoutMs = o.timeoutMs ?? 10_000;
  const prefix = `warm-up:${os.hostname()}:${process.pid}:${Date.now().toString(36)}`;
  const report: WarmUpReport = { completed: 0, eager: 0, ms: 0, timedOut: false };
  if (o.signal?.aborted) return report;
  let next = 0;
  let over = false;
  const runOne = async (i: number) => {
    const probe: WarmUpProbe = { i, text: 'warm-up '.repeat(32) };
    const handle = await client.workflow.start(o.workflowType ?? WARM_UP_WORKFLOW, {
      workflowId: `${prefix}:${i}`,
      taskQueue: o.taskQueue,
      args: [probe],
      requestEagerStart: o.eager ?? true,
      workflowExecutionTimeout: '1 minute',
    });
    await handle.result();
    if (over) return;
    report.completed++;
    if (handle.eagerlyStarted) report.eager++;
  };
  const lanes = Array.from({ length: Math.min(o.concurrency ?? 4, o.workflows) }, async () => {
    while (!over && next < o.workflows) await runOne(next++);
  });
  // A lane's failure ends the warm-up (and is reported); after a timeout, lanes still running
  // may fail later, which must not go unhandled.
  const all = Promise.all(lanes).then(
    () => undefined,
    (err: unknown) => {
      if (!over) report.error = err;
    },
  );
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const cut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      report.timedOut = true;
      resolve();
    }, timeoutMs);
    onAbort = () => resolve();
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
  await Promise.race([all, cut]);
  over = true;
  clearTimeout(timer);
  if (onAbort) o.signal?.removeEventListener('abort', onAbort);
  report.ms = Math.round(performance.now() - began);
  return report;
}
