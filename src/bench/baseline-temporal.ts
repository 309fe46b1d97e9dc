/**
 * baseline-temporal: what the Temporal server costs alone, with the lightest workflow
 * (one no-op activity). `regular` starts through a client connection of its own and
 * runs a regular activity; `eager-local` starts eagerly on the worker's own
 * NativeConnection and runs a local activity: the lean shape issue 7 compares idem to.
 * Client and worker live in this process; the worker's bundling is not measured.
 */
import crypto from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Config } from '../config';
import { temporalConnectionOptions } from '../temporal/connection';
import { warmUpWorker } from '../temporal/warm-up';
import { createLatencyRecorder, throughputSeries } from './histogram';
import { benchActivities } from './noop-activity';
import { measureServers } from './server-usage';
import type { ScenarioResult } from './types';

export type TemporalShape = 'regular' | 'eager-local';

export interface TemporalBaselineOptions {
  shape: TemporalShape;
  /** Workflows to run. */
  count: number;
  /** Most workflows in flight (closed loop); 1 measures the unloaded latency. */
  concurrency: number;
  config: Config;
  onProgress?(done: number, total: number): void;
  /** @default `baseline-temporal regular|eager+local`, with ` unloaded` at concurrency 1 */
  name?: string;
}

/** Workflows whose history length is read after the run. */
const HISTORY_SAMPLES = 5;

export async function runTemporalBaseline(opts: TemporalBaselineOptions): Promise<ScenarioResult> {
  const { shape, count, concurrency, config } = opts;
  const eager = shape === 'eager-local';
  const { namespace } = config.temporal;
  // The server's own limit: TLS as configured, but no payload codec (the baseline has no event data).
  const connectionOptions = temporalConnectionOptions(config);
  const taskQueue = `bench-${shape}-${crypto.randomBytes(4).toString('hex')}`;
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const native = await NativeConnection.connect(connectionOptions);
    closers.push(() => native.close());
    const worker = await Worker.create({
      connection: native,
      namespace,
      taskQueue,
      workflowsPath: require.resolve('./workflows'),
      activities: benchActivities,
    });
    const running = worker.run();
    closers.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });
    // Eager start needs the client on the worker's own connection; the regular shape is the usual
    // deployment, a client connection of its own.
    let client: Client;
    if (eager) {
      client = new Client({ connection: native, namespace });
    } else {
      const connection = await Connection.connect(connectionOptions);
      closers.push(() => connection.close());
      client = new Client({ connection, namespace });
    }

    // Warmed up as idem's worker is before it takes events, by the same code and as many
    // workflows, of the measured shape, before the clock starts.
    const warm = await warmUpWorker(client, {
      taskQueue,
      workflows: config.worker.warmUpWorkflows,
      workflowType: eager ? 'minimalLocal' : 'minimalRegular',
      eager,
    });
    if (warm.error !== undefined || warm.timedOut)
      throw new Error(`the baseline's warm-up failed: ${String(warm.error ?? 'timed out')}`);

    const latency = createLatencyRecorder();
    const startCall = createLatencyRecorder();
    // Eagerly started workflows skip matching; the others queue for the same worker's slots.
    const byStart = { eager: createLatencyRecorder(), matched: createLatencyRecorder() };
    const doneAt: number[] = [];
    const sampled: string[] = [];
    const sampleEvery = Math.max(1, Math.floor(count / HISTORY_SAMPLES));
    let next = 0;
    let eagerStarts = 0;
    let failed = 0;
    let firstError = '';
    const servers = measureServers(config);
    const cpuBefore = process.cpuUsage();
    const began = performance.now();

    const runOne = async (i: number) => {
      const workflowId = `bench-${shape}-${crypto.randomUUID()}`;
      if (i % sampleEvery === 0 && sampled.length < HISTORY_SAMPLES) sampled.push(workflowId);
      const t0 = performance.now();
      try {
        const handle = await client.workflow.start(eager ? 'minimalLocal' : 'minimalRegular', {
          taskQueue,
          workflowId,
          requestEagerStart: eager,
        });
        startCall.record(performance.now() - t0);
        if (handle.eagerlyStarted) eagerStarts++;
        await handle.result();
        const t1 = performance.now();
        latency.record(t1 - t0);
        if (eager) byStart[handle.eagerlyStarted ? 'eager' : 'matched'].record(t1 - t0);
        doneAt.push(t1);
      } catch (err) {
        failed++;
        firstError ||= String(err);
      }
      opts.onProgress?.(doneAt.length + failed, count);
    };
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count) }, async () => {
        while (next < count) await runOne(next++);
      }),
    );
    const seconds = (performance.now() - began) / 1000;
    const serverCpu = servers(doneAt.length + failed);
    // Client and worker run in this process: its CPU is what idem's own process compares with.
    const cpu = process.cpuUsage(cpuBefore);
    const clientWorkerCpuMsPerEvent =
      Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, doneAt.length + failed)) * 100) / 100;

    const lengths = await Promise.all(
      sampled.map(async (id) => (await client.workflow.getHandle(id).fetchHistory()).events?.length ?? 0),
    );
    const events = doneAt.length;
    const extra: Record<string, number | string> = { failed, ...serverCpu, clientWorkerCpuMsPerEvent };
    if (eager) {
      extra.eagerStartShare = events + failed > 0 ? eagerStarts / (events + failed) : 0;
      for (const [how, rec] of Object.entries(byStart)) {
        const s = rec.summary();
        extra[`${how}P50Ms`] = s.p50;
        extra[`${how}P99Ms`] = s.p99;
      }
    }
    if (firstError) extra.firstError = firstError.slice(0, 300);
    return {
      name:
        opts.name ??
        `baseline-temporal ${eager ? 'eager+local' : 'regular'}${concurrency === 1 ? ' unloaded' : ''}`,
      kind: eager ? 'baseline-temporal-eager-local' : 'baseline-temporal-regular',
      params: { workflows: count, concurrency, shape },
      events,
      seconds,
      eventsPerSecond: seconds > 0 ? events / seconds : 0,
      latency: latency.summary(),
      stages: { startCall: startCall.summary() },
      throughput: throughputSeries(doneAt, began),
      historyEventsPerWorkflow:
        lengths.length > 0 ? lengths.reduce((a, b) => a + b, 0) / lengths.length : undefined,
      extra,
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
}
