/**
 * Helpers for testing idem handlers and workflows: Temporal's own test
 * environment (`@temporalio/testing`) on the Temporal CLI binary the local stack
 * uses, so nothing is downloaded, and a fresh PostgreSQL database per test file.
 * See docs/handlers.md; test/integration/handler-example.test.ts uses them all.
 *
 *   // a handler through the real applyEvent (dedup, transaction, outbox)
 *   const db = await createTestDatabase({ prefix: 'orders' });
 *   await applyTestEvent({ pool: db.pool, registry, message: testMessage({ type: 'order.placed', data }) });
 *
 *   // the processEvent workflow, with the real activities or mocked ones
 *   const env = await createTestEnvironment();
 *   const result = await runProcessEvent(env, {
 *     input: testInput(testMessage({ type: 'order.placed', data })),
 *     activities: createTestActivities({ pool: db.pool, registry }),
 *   });
 */
import crypto from 'node:crypto';
import { MockActivityEnvironment, TestWorkflowEnvironment } from '@temporalio/testing';
import type { Logger as TemporalLogger } from '@temporalio/common';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { Client, Pool } from 'pg';
import { createActivities, type Activities } from '../activities';
import type { HandlerRegistry } from '../activities/handlers/registry';
import { loadConfig } from '../config';
import type { DlqPublisher, DlqPublishResult, DlqRecord } from '../dlq/publisher';
import { toRawMessage } from '../events/envelope';
import type { RawMessage } from '../events/types';
import { workflowIdFor } from '../events/identity';
import { layoutFor } from '../stack/layout';
import { findTemporalCli } from '../stack/temporal';
import { webpackConfigHook } from '../temporal/workflow-bundle';
import { migrate, type MigrationSet } from '../store/migrate';
import { pgConnectionConfig } from '../store/tls';
import { ALL_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import {
  PROCESS_EVENT_WORKFLOW,
  type ApplyEventResult,
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
    webpackConfigHook,
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

// --- Handlers against a real PostgreSQL -------------------------------------------------------
//
//   const db = await createTestDatabase({ prefix: 'orders' });
//   const result = await applyTestEvent({ pool: db.pool, registry, message: testMessage({ ... }) });
//   await db.drop();

/** A fresh database with idem's schema, dropped again by `drop()`. */
export interface TestDatabase {
  /** Connection string of the new database. */
  url: string;
  /** A pool on it (10 connections); `drop()` ends it. */
  pool: Pool;
  /** Ends the pool and drops the database. */
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function onServer(url: string, sql: string): Promise<void> {
  const admin = new Client(pgConnectionConfig(withDatabase(url, 'postgres')));
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/**
 * Creates a uniquely named database (`idem_<prefix>_<random>`) on a PostgreSQL
 * server and runs idem's migrations in it, so one test file never sees another's
 * rows. The server's user needs the CREATEDB privilege.
 */
export async function createTestDatabase(
  opts: {
    /** Any postgres:// URL on the server; its database part is ignored. @default DATABASE_URL, else the local stack's */
    baseUrl?: string;
    /** Part of the database name (letters, digits, _). @default test */
    prefix?: string;
    /** Migration sets of your handlers (a HandlerModule's `migrations`), applied after idem's own. */
    migrations?: MigrationSet[];
  } = {},
): Promise<TestDatabase> {
  const base = opts.baseUrl ?? loadConfig().database.url;
  const prefix = (opts.prefix ?? 'test')
    .replace(/[^a-z0-9_]/gi, '_')
    .toLowerCase()
    .slice(0, 40);
  // Safe to interpolate: only [a-z0-9_], at most 54 characters (PostgreSQL's limit is 63).
  const name = `idem_${prefix}_${crypto.randomBytes(4).toString('hex')}`;
  await onServer(base, `create database ${name}`);
  const url = withDatabase(base, name);
  const pool = new Pool({ ...pgConnectionConfig(url), max: 10 });
  // An idle client the server drops would otherwise emit an unhandled 'error' and fail the test file.
  pool.on('error', () => undefined);
  try {
    await migrate(pool, opts.migrations);
  } catch (err) {
    await pool.end();
    await onServer(base, `drop database if exists ${name} with (force)`);
    throw err;
  }
  return {
    url,
    pool,
    async drop() {
      await pool.end();
      await onServer(base, `drop database if exists ${name} with (force)`);
    },
  };
}

/** A dead-letter publisher that keeps the records in memory instead of writing to Kafka. */
export class RecordingDlqPublisher implements DlqPublisher {
  readonly records: DlqRecord[] = [];
  async publish(record: DlqRecord): Promise<DlqPublishResult> {
    this.records.push(record);
    return { topic: record.topic, partition: 0, offset: String(this.records.length - 1) };
  }
}

export interface TestActivitiesOptions {
  pool: Pool;
  registry: HandlerRegistry;
  /** @default a new {@link RecordingDlqPublisher} */
  dlq?: DlqPublisher;
  /** @default 262144, as IDEM_MAX_EVENT_BYTES */
  maxEventBytes?: number;
  /** @default events.outbox, as IDEM_OUTBOX_TOPIC */
  outboxTopic?: string;
}

/** idem's real activities (applyEvent, deadLetter) on the given pool and handlers, with test defaults:
 * pass them to {@link runProcessEvent} to run the workflow end to end without Kafka. */
export function createTestActivities(opts: TestActivitiesOptions): Activities {
  return createActivities({
    pool: opts.pool,
    registry: opts.registry,
    dlq: opts.dlq ?? new RecordingDlqPublisher(),
    maxEventBytes: opts.maxEventBytes ?? 262_144,
    outboxTopic: opts.outboxTopic ?? 'events.outbox',
  });
}

export interface ApplyTestEventOptions extends TestActivitiesOptions {
  message: RawMessage;
  /** Run as an operator's redrive (may apply an event recorded as dead-lettered). @default false */
  redrive?: boolean;
  /** The activity attempt the handler sees as `ctx.attempt`. @default 1 */
  attempt?: number;
  /** The activity's logger. @default errors only: a failed attempt (logged at WARN) is the rejection */
  logger?: TemporalLogger;
}

/**
 * Runs the real applyEvent activity once, in Temporal's MockActivityEnvironment:
 * the dedup claim, the handler, the outbox and the commit, exactly as a worker
 * does. Resolves `{ outcome: 'applied' | 'duplicate', outboxCount }`; rejects
 * with the ApplicationFailure the workflow would see (`type` is the error's name,
 * `nonRetryable` set for permanent failures).
 */
export async function applyTestEvent(opts: ApplyTestEventOptions): Promise<ApplyEventResult> {
  const { applyEvent } = createTestActivities(opts);
  const env = new MockActivityEnvironment(
    {
      attempt: opts.attempt ?? 1,
      workflowExecution: { workflowId: 'applyTestEvent', runId: crypto.randomUUID() },
    },
    { logger: opts.logger ?? new DefaultLogger('ERROR') },
  );
  return env.run(applyEvent, { message: opts.message, redrive: opts.redrive ?? false });
}
