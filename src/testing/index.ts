/**
 * Helpers for testing idem handlers and workflows with Temporal's own test
 * environment (`@temporalio/testing`), on the Temporal CLI binary the local stack
 * uses, so nothing is downloaded. See docs/handlers.md.
 *
 *   const env = await createTestEnvironment();
 *   const result = await runProcessEvent(env, {
 *     message: testMessage({ type: 'account.credited', data: { account: 'a', amount: 100 } }),
 *     activities: { applyEvent: async () => ({ outcome: 'applied', outboxCount: 0 }), deadLetter: async () => ... },
 *   });
 */
import crypto from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { loadConfig } from '../config';
import { toRawMessage } from '../events/envelope';
import type { RawMessage } from '../events/types';
import { workflowIdFor } from '../events/identity';
import { layoutFor } from '../stack/layout';
import { findTemporalCli } from '../stack/temporal';
import { ALL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import {
  PROCESS_EVENT_WORKFLOW,
  type ProcessEventInput,
  type ProcessEventResult,
  type RetrySettings,
} from '../workflows/types';

export { TestWorkflowEnvironment };

/** A local Temporal test server (the dev server, in memory) with idem's search attributes. */
export async function createTestEnvironment(
  opts: { temporalCliPath?: string } = {},
): Promise<TestWorkflowEnvironment> {
  const path = opts.temporalCliPath ?? findTemporalCli(layoutFor(loadConfig().cacheDir));
  if (!path) {
    throw new Error(
      'No Temporal CLI found: run `idem stack up` once (it builds one into the cache) or set TEMPORAL_CLI_PATH',
    );
  }
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path },
      ip: '127.0.0.1',
      searchAttributes: ALL_SEARCH_ATTRIBUTES,
    },
  });
}

export interface TestEventSpec {
  type: string;
  data?: unknown;
  id?: string;
  source?: string;
  key?: string;
  topic?: string;
  partition?: number;
  offset?: string;
}

/** A Kafka record carrying a structured-mode CloudEvent, as the ingester would hand it over. */
export function testMessage(spec: TestEventSpec): RawMessage {
  const envelope = {
    specversion: '1.0',
    id: spec.id ?? crypto.randomUUID(),
    source: spec.source ?? 'test',
    type: spec.type,
    data: spec.data ?? {},
  };
  return toRawMessage({
    topic: spec.topic ?? 'events',
    partition: spec.partition ?? 0,
    offset: spec.offset ?? '0',
    timestamp: String(Date.now()),
    key: spec.key === undefined ? null : Buffer.from(spec.key),
    value: Buffer.from(JSON.stringify(envelope)),
    headers: { 'content-type': Buffer.from('application/cloudevents+json') },
  });
}

/** The workflow input for a message (the parse the ingester does, without the checks). */
export function testInput(message: RawMessage, retry: Partial<RetrySettings> = {}): ProcessEventInput {
  const ce = JSON.parse(message.value) as { id: string; source: string; type: string };
  const key = message.key && 'utf8' in message.key ? message.key.utf8 : undefined;
  return {
    event: { id: ce.id, source: ce.source, type: ce.type, ...(key ? { key } : {}) },
    message,
    retry: { maxAttempts: 3, initialIntervalMs: 10, maxIntervalMs: 50, ...retry },
  };
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** idem's workflows bundled once per test process (bundling takes seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: quietBundlerLogger,
  });
  return bundle;
}

const quiet = () => undefined;
const quietBundlerLogger = { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet, log: quiet };

/** Runs one processEvent workflow to completion on a worker with the given activities. */
export async function runProcessEvent(
  env: TestWorkflowEnvironment,
  opts: { input: ProcessEventInput; activities: object; taskQueue?: string },
): Promise<ProcessEventResult> {
  const taskQueue = opts.taskQueue ?? `test-${crypto.randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: opts.activities,
  });
  return worker.runUntil(
    env.client.workflow.execute(PROCESS_EVENT_WORKFLOW, {
      taskQueue,
      workflowId: `${workflowIdFor(opts.input.event.source, opts.input.event.id)}:${crypto.randomUUID()}`,
      args: [opts.input],
    }),
  );
}
