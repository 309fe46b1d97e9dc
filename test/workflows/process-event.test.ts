/** processEvent on Temporal's test environment with mocked activities. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { temporal } from '@temporalio/proto';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { dlqTopicFor } from '../../src/dlq/topic';
import {
  createTestEnvironment,
  runProcessEvent,
  testInput,
  testMessage,
  workflowBundle,
  type TestWorkflowEnvironment,
} from '../../src/testing';
import {
  IdemAttempts,
  IdemErrorClass,
  IdemOutcome,
  IdemStage,
  LAST_ERROR_MEMO,
  type LastError,
} from '../../src/workflows/search-attributes';
import { eventually } from '../support/poll';
import {
  PROCESS_EVENT_WORKFLOW,
  type ApplyEventInput,
  type ApplyEventResult,
  type DeadLetterInput,
  type ProcessEventResult,
  type WorkflowShape,
} from '../../src/workflows/types';

let env: TestWorkflowEnvironment;

beforeAll(async () => {
  env = await createTestEnvironment();
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

const input = () =>
  testInput(testMessage({ type: 'account.credited', data: { account: 'a', amount: 5 }, key: 'a' }));

/** applyEvent while PostgreSQL is down for its first `failures` calls, then applied. */
function storeDownFor(failures: number) {
  let calls = 0;
  return {
    calls: () => calls,
    applyEvent: async (): Promise<ApplyEventResult> => {
      calls++;
      if (calls <= failures)
        throw ApplicationFailure.create({
          type: 'Error',
          message: 'connect ECONNREFUSED 127.0.0.1:25432',
          details: [{ reason: 'handler_failed', attempt: calls, storeUnavailable: true }],
        });
      return { outcome: 'applied', outboxCount: 0 };
    },
  };
}

/** A worker of the bundled workflows on `taskQueue`, with these activities. */
async function workerOn(taskQueue: string, activities: object): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
  });
}

function recorder() {
  const deadLetters: DeadLetterInput[] = [];
  return {
    deadLetters,
    deadLetter: async (i: DeadLetterInput) => {
      deadLetters.push(i);
      return { topic: dlqTopicFor(i.message.topic), partition: 0, offset: String(deadLetters.length - 1) };
    },
  };
}

test('applies the event once and returns the outcome', async () => {
  const rec = recorder();
  let calls = 0;
  const result = await runProcessEvent(env, {
    input: input(),
    activities: {
      applyEvent: async (): Promise<ApplyEventResult> => {
        calls++;
        return { outcome: 'applied', outboxCount: 1 };
      },
      deadLetter: rec.deadLetter,
    },
  });
  expect(result).toEqual({ outcome: 'applied', outboxCount: 1 });
  expect(calls).toBe(1);
  expect(rec.deadLetters).toHaveLength(0);
});

test('retries a transient failure, then succeeds without dead-lettering', async () => {
  const rec = recorder();
  let calls = 0;
  const result = await runProcessEvent(env, {
    input: input(),
    activities: {
      applyEvent: async (): Promise<ApplyEventResult> => {
        calls++;
        if (calls < 3) throw new Error('database connection lost');
        return { outcome: 'applied', outboxCount: 0 };
      },
      deadLetter: rec.deadLetter,
    },
  });
  expect(result.outcome).toBe('applied');
  expect(calls).toBe(3);
  expect(rec.deadLetters).toHaveLength(0);
});

test('a permanent failure dead-letters at once with its reason and ends the workflow failed', async () => {
  const rec = recorder();
  let calls = 0;
  const run = runProcessEvent(env, {
    input: input(),
    activities: {
      applyEvent: async () => {
        calls++;
        throw ApplicationFailure.create({
          type: 'UnknownEventTypeError',
          message: 'no handler for "account.credited"',
          nonRetryable: true,
          details: [{ reason: 'unknown_type', attempt: 1 }],
        });
      },
      deadLetter: rec.deadLetter,
    },
  });
  await expect(run).rejects.toBeInstanceOf(WorkflowFailedError);
  expect(calls).toBe(1);
  expect(rec.deadLetters).toHaveLength(1);
  expect(rec.deadLetters[0]).toMatchObject({ reason: 'unknown_type', attempts: 1 });
  expect(rec.deadLetters[0]?.error).toContain('no handler');
});

test('exhausted retries dead-letter with reason handler_failed and the attempts made', async () => {
  const rec = recorder();
  let calls = 0;
  const run = runProcessEvent(env, {
    input: testInput(testMessage({ type: 'account.debited', data: {} }), { maxAttempts: 4 }),
    activities: {
      applyEvent: async () => {
        calls++;
        throw ApplicationFailure.create({
          type: 'Error',
          message: `still failing (${calls})`,
          details: [{ reason: 'handler_failed', attempt: calls }],
        });
      },
      deadLetter: rec.deadLetter,
    },
  });
  const err = await run.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe('DeadLettered');
  expect(calls).toBe(4);
  expect(rec.deadLetters).toEqual([expect.objectContaining({ reason: 'handler_failed', attempts: 4 })]);
});

test('PostgreSQL down through every attempt is an outage, not a dead-letter: it retries until the store is back', async () => {
  const rec = recorder();
  const store = storeDownFor(5);
  const result = await runProcessEvent(env, {
    input: testInput(testMessage({ type: 'account.credited', data: { account: 'a', amount: 1 } }), {
      maxAttempts: 2,
    }),
    activities: { applyEvent: store.applyEvent, deadLetter: rec.deadLetter },
  });
  expect(result.outcome).toBe('applied');
  expect(store.calls()).toBe(6); // three series of at most two attempts
  expect(rec.deadLetters).toHaveLength(0);
});

test("a claim held by another attempt (a frozen worker's open transaction) is waited for, without spending attempts or dead-lettering", async () => {
  const rec = recorder();
  let calls = 0;
  const result = await runProcessEvent(env, {
    input: testInput(testMessage({ type: 'account.credited', data: { account: 'a', amount: 1 } }), {
      maxAttempts: 2,
    }),
    activities: {
      applyEvent: async (): Promise<ApplyEventResult> => {
        calls++;
        // What applyEvent reports while the claim's row is locked: non-retryable, flagged.
        if (calls <= 4)
          throw ApplicationFailure.create({
            type: 'ClaimHeldError',
            message: 'another attempt at this event holds its claim',
            nonRetryable: true,
            details: [{ reason: 'handler_failed', attempt: 1, claimHeld: true }],
          });
        return { outcome: 'applied', outboxCount: 0 };
      },
      deadLetter: rec.deadLetter,
    },
  });
  expect(result.outcome).toBe('applied');
  expect(calls).toBe(5); // more than maxAttempts: waiting for a held claim is not an attempt
  expect(rec.deadLetters).toHaveLength(0);
});

test("attempts that each fail slowly are not cut short by the first attempt's timeout: an outage is waited out, a failing handler gets its every attempt", async () => {
  // Each attempt fails after 700 ms; an attempt may take 1.5 s. The SDK's own local retries kept
  // the first attempt's start-to-close timer running (temporalio/sdk-rust#1454): the series timed
  // out after 1.5 s and the event was dead-lettered as handler_failed ("Activity timed out").
  const slowly = (details: object, failures: number) => {
    let calls = 0;
    return {
      calls: () => calls,
      applyEvent: async (): Promise<ApplyEventResult> => {
        calls++;
        await new Promise((r) => setTimeout(r, 700));
        if (calls <= failures)
          throw ApplicationFailure.create({
            type: 'Error',
            message: `failed slowly (${calls})`,
            details: [details],
          });
        return { outcome: 'applied', outboxCount: 0 };
      },
    };
  };
  const retry = { maxAttempts: 3, attemptTimeoutMs: 1_500 };
  const msg = () => testMessage({ type: 'account.credited', data: { account: 'a', amount: 1 } });

  const outage = slowly({ reason: 'handler_failed', attempt: 1, storeUnavailable: true }, 4);
  const rec = recorder();
  await expect(
    runProcessEvent(env, {
      input: testInput(msg(), retry),
      activities: { applyEvent: outage.applyEvent, deadLetter: rec.deadLetter },
    }),
  ).resolves.toMatchObject({ outcome: 'applied' });
  expect(outage.calls()).toBe(5);
  expect(rec.deadLetters).toHaveLength(0);

  const failing = slowly({ reason: 'handler_failed', attempt: 0 }, 99);
  const err = await runProcessEvent(env, {
    input: testInput(msg(), retry),
    activities: { applyEvent: failing.applyEvent, deadLetter: rec.deadLetter },
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect(failing.calls()).toBe(3);
  expect(rec.deadLetters).toEqual([expect.objectContaining({ error: 'Error: failed slowly (3)' })]);
});

test('a long outage continues as new (the history stays bounded) and the event is then applied once', async () => {
  const taskQueue = `test-${crypto.randomUUID()}`;
  const workflowId = `outage-${crypto.randomUUID()}`;
  const rec = recorder();
  const store = storeDownFor(7);
  const worker = await workerOn(taskQueue, { applyEvent: store.applyEvent, deadLetter: rec.deadLetter });
  const base = input();
  const { result, first } = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(PROCESS_EVENT_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [{ ...base, retry: { ...base.retry, maxAttempts: 2, outageRoundsPerRun: 2 } }],
    });
    const r = (await handle.result()) as ProcessEventResult;
    return {
      result: r,
      first: await env.client.workflow.getHandle(workflowId, handle.firstExecutionRunId).describe(),
    };
  });
  expect(result.outcome).toBe('applied');
  expect(store.calls()).toBe(8);
  expect(rec.deadLetters).toHaveLength(0);
  // Two series of two attempts in the first run, which continued as new; the second run applied.
  expect(first.status.name).toBe('CONTINUED_AS_NEW');
  const last = await env.client.workflow.getHandle(workflowId).describe();
  expect(last.status.name).toBe('COMPLETED');
  expect(last.runId).not.toBe(first.runId);
});

test("an operator's reset of a dead-lettered event counts as a redrive: the new run may apply it", async () => {
  const taskQueue = `test-${crypto.randomUUID()}`;
  const workflowId = `reset-${crypto.randomUUID()}`;
  const rec = recorder();
  const seen: boolean[] = [];
  const worker = await workerOn(taskQueue, {
    // Refused until reset (the store's claim of a dead-lettered row needs the reset or redrive flag).
    applyEvent: async (i: ApplyEventInput): Promise<ApplyEventResult> => {
      seen.push(i.reset === true);
      if (!i.reset)
        throw ApplicationFailure.create({
          type: 'PermanentHandlerError',
          message: 'refused',
          nonRetryable: true,
          details: [{ reason: 'handler_failed', attempt: 1 }],
        });
      return { outcome: 'applied', outboxCount: 0 };
    },
    deadLetter: rec.deadLetter,
  });
  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(PROCESS_EVENT_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [input()],
    });
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    // Reset to the first workflow task (event 3, its start), as Temporal Web's "reset" does.
    const { runId } = (await env.client.workflowService.resetWorkflowExecution({
      namespace: env.namespace ?? 'default',
      workflowExecution: { workflowId, runId: handle.firstExecutionRunId },
      reason: 'operator reset in a test',
      // int64 in the proto (a Long in its types); protobufjs takes a number
      workflowTaskFinishEventId: 3 as never,
      requestId: crypto.randomUUID(),
    })) as { runId?: string | null };
    return (await env.client.workflow
      .getHandle(workflowId, runId ?? undefined)
      .result()) as ProcessEventResult;
  });
  expect(rec.deadLetters).toHaveLength(1);
  expect(seen).toEqual([false, true]);
  expect(result.outcome).toBe('applied');
});

test("an operator's cancel dead-letters the event (reason cancelled) before the run ends cancelled", async () => {
  const taskQueue = `test-${crypto.randomUUID()}`;
  const workflowId = `cancel-${crypto.randomUUID()}`;
  const rec = recorder();
  let started = false;
  const worker = await workerOn(taskQueue, {
    // A handler that hangs until it is cancelled.
    applyEvent: async (): Promise<ApplyEventResult> => {
      started = true;
      await Context.current().cancelled;
      return { outcome: 'applied', outboxCount: 0 };
    },
    deadLetter: rec.deadLetter,
  });
  const err = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(PROCESS_EVENT_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [input()],
    });
    while (!started) await new Promise((r) => setTimeout(r, 20));
    await handle.cancel();
    return handle.result().catch((e: unknown) => e);
  });
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
  // Before, the run ended cancelled with no dead-letter record: the event was gone.
  expect(rec.deadLetters).toEqual([expect.objectContaining({ reason: 'cancelled', attempts: 0 })]);
  expect(await shownOf(workflowId)).toMatchObject({
    stage: 'dead_lettered',
    outcome: 'dead_lettered',
    attempts: 0,
    errorClass: 'CancelledFailure',
    lastError: { reason: 'cancelled' },
  });
});

test('the workflow context records no stack frames (src/workflows/sandbox.ts): the stack trace query of an event waiting out an outage names no code', async () => {
  const taskQueue = `test-${crypto.randomUUID()}`;
  const workflowId = `stack-${crypto.randomUUID()}`;
  const store = storeDownFor(Number.MAX_SAFE_INTEGER);
  const worker = await workerOn(taskQueue, { ...store, deadLetter: recorder().deadLetter });
  const stack = await worker.runUntil(async () => {
    // The outage's wait is a minute long: the run sleeps on a timer when it is asked.
    const handle = await env.client.workflow.start(PROCESS_EVENT_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [testInput(input().message, { maxAttempts: 2, initialIntervalMs: 10, maxIntervalMs: 60_000 })],
    });
    await eventually(async () => (await shownOf(workflowId)).stage === 'waiting_for_store');
    const trace = await handle.query<string>('__stack_trace');
    await handle.terminate('test over');
    return trace;
  });
  expect(store.calls()).toBeGreaterThanOrEqual(1);
  // With the SDK's default of 10 frames each waiting promise is listed with its frames
  // ("    at applyUntilDecided (…/process-event.ts:…)"); here there are none to list.
  expect(stack).not.toMatch(/^\s+at /m);
});

/** Runs one applied event in the given shape; what its history holds. */
async function historyOf(shape: WorkflowShape | undefined) {
  const taskQueue = `test-${crypto.randomUUID()}`;
  const workflowId = `shape-${crypto.randomUUID()}`;
  const applied: ApplyEventInput[] = [];
  const worker = await workerOn(taskQueue, {
    applyEvent: async (i: ApplyEventInput): Promise<ApplyEventResult> => {
      applied.push(i);
      return { outcome: 'applied', outboxCount: 0 };
    },
    deadLetter: recorder().deadLetter,
  });
  await worker.runUntil(
    env.client.workflow.execute(PROCESS_EVENT_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [{ ...input(), ...(shape ? { shape } : {}) }],
    }),
  );
  const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  return {
    applied,
    markers: events.filter((e) => e.markerRecordedEventAttributes).length,
    activityTasks: events.filter((e) => e.activityTaskScheduledEventAttributes).length,
    upserts: events.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes).length,
  };
}

test('the default shape applies in a local activity and records no outcome on plain success', async () => {
  const h = await historyOf(undefined);
  expect(h).toMatchObject({ markers: 1, activityTasks: 0, upserts: 0 });
  expect(h.applied).toHaveLength(1);
  // The run's start time reaches the activity, for the schedule_to_start stage.
  expect(h.applied[0]?.runStartedAtMs).toBeGreaterThan(Date.parse('2020-01-01'));
});

test('IDEM_APPLY_AS=regular applies in an activity task; IDEM_UPSERT_APPLIED records IdemOutcome', async () => {
  const h = await historyOf({ applyAs: 'regular', upsertApplied: true });
  expect(h).toMatchObject({ markers: 0, activityTasks: 1, upserts: 1 });
});

// --- What operators see in Temporal Web: IdemStage, IdemAttempts, IdemErrorClass, lastError ---

/** A describe's idem attributes and memo's lastError. */
async function shownOf(workflowId: string, runId?: string) {
  const d = await env.client.workflow.getHandle(workflowId, runId).describe();
  const sa = d.typedSearchAttributes;
  return {
    stage: sa.get(IdemStage),
    attempts: sa.get(IdemAttempts),
    errorClass: sa.get(IdemErrorClass),
    outcome: sa.get(IdemOutcome),
    lastError: d.memo?.[LAST_ERROR_MEMO] as LastError | undefined,
    kafka: d.memo?.kafka,
  };
}

/** A started workflow's history: events by type, and the names each upsert wrote. */
async function historyCounts(workflowId: string) {
  const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  return {
    total: events.length,
    upserts: events.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes).length,
    memos: events.filter((e) => e.workflowPropertiesModifiedEventAttributes).length,
    markers: events.filter((e) => e.markerRecordedEventAttributes).length,
  };
}

function failing(type: string, message: string, attempt: number, nonRetryable = false) {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable,
    details: [{ reason: nonRetryable ? 'invalid_payload' : 'handler_failed', attempt }],
  });
}

test('a retrying event shows IdemStage retrying, IdemAttempts, IdemErrorClass and the last error in its memo; once applied, IdemStage done', async () => {
  const taskQueue = `test-${crypto.randomUUID()}`;
  const workflowId = `retrying-${crypto.randomUUID()}`;
  let calls = 0;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const worker = await workerOn(taskQueue, {
    // Two failures, then an attempt that waits for the test to have looked.
    applyEvent: async (): Promise<ApplyEventResult> => {
      calls++;
      if (calls <= 2)
        throw failing('UpstreamTimeoutError', `the ledger service did not answer (${calls})`, calls);
      await released;
      return { outcome: 'applied', outboxCount: 0 };
    },
    deadLetter: recorder().deadLetter,
  });
  const { during, result } = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(PROCESS_EVENT_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [
        testInput(testMessage({ type: 'account.credited', key: 'acct-9', offset: '41' }), { maxAttempts: 5 }),
      ],
      memo: { kafka: { topic: 'events', partition: 0, offset: '41' } },
    });
    // The third attempt runs (and waits) once the second's failure is recorded.
    await eventually(async () => calls >= 3);
    const shown = await shownOf(workflowId);
    release();
    return { during: shown, result: (await handle.result()) as ProcessEventResult };
  });
  expect(during).toMatchObject({
    stage: 'retrying',
    attempts: 2,
    errorClass: 'UpstreamTimeoutError',
    outcome: undefined,
    kafka: { topic: 'events', partition: 0, offset: '41' }, // the start's memo is kept
  });
  expect(during.lastError).toEqual({
    class: 'UpstreamTimeoutError',
    message: 'UpstreamTimeoutError: the ledger service did not answer (2)',
    reason: 'handler_failed',
    attempt: 2,
    at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
  });
  expect(result.outcome).toBe('applied');
  expect(await shownOf(workflowId)).toMatchObject({ stage: 'done', attempts: 2, outcome: 'applied' });
  // Per retry one upsert and one memo change; once per run the patch's marker and the
  // TemporalChangeVersion upsert the SDK writes with it; at the end one upsert (done, applied).
  expect(await historyCounts(workflowId)).toMatchObject({ upserts: 4, memos: 2, markers: 4 });
});

test('a dead-lettered event shows the final IdemStage, IdemOutcome, IdemAttempts, IdemErrorClass and last error', async () => {
  const rec = recorder();
  const wid = (p: string) => `${p}-${crypto.randomUUID()}`;
  const exhausted = wid('exhausted');
  const permanent = wid('permanent');
  let calls = 0;
  const run = async (workflowId: string, applyEvent: () => Promise<ApplyEventResult>) => {
    const taskQueue = `test-${crypto.randomUUID()}`;
    const worker = await workerOn(taskQueue, { applyEvent, deadLetter: rec.deadLetter });
    await worker.runUntil(
      env.client.workflow
        .execute(PROCESS_EVENT_WORKFLOW, {
          taskQueue,
          workflowId,
          args: [testInput(testMessage({ type: 'account.debited' }), { maxAttempts: 3 })],
        })
        .catch((e: unknown) => e),
    );
  };
  await run(exhausted, async () => {
    calls++;
    throw failing('Error', `still failing (${calls})`, calls);
  });
  await run(permanent, async () => {
    throw failing('InvalidPayloadError', 'amount must be an integer', 1, true);
  });
  expect(await shownOf(exhausted)).toEqual({
    stage: 'dead_lettered',
    outcome: 'dead_lettered',
    attempts: 3,
    errorClass: 'Error',
    lastError: {
      class: 'Error',
      message: 'Error: still failing (3)',
      reason: 'handler_failed',
      attempt: 3,
      at: expect.any(String),
    },
    kafka: undefined,
  });
  expect(await shownOf(permanent)).toMatchObject({
    stage: 'dead_lettered',
    outcome: 'dead_lettered',
    attempts: 1,
    errorClass: 'InvalidPayloadError',
    lastError: { message: 'InvalidPayloadError: amount must be an integer', reason: 'invalid_payload' },
  });
  // Visibility finds them by the new attributes (eventually consistent: polled).
  await eventually(async () => {
    const found: string[] = [];
    for await (const wf of env.client.workflow.list({
      query: `IdemStage = "dead_lettered" AND IdemErrorClass = "InvalidPayloadError" AND WorkflowId = "${permanent}"`,
    }))
      found.push(wf.workflowId);
    return found.length === 1;
  });
});

test('an outage shows IdemStage waiting_for_store across continue-as-new, then done', async () => {
  const taskQueue = `test-${crypto.randomUUID()}`;
  const workflowId = `outage-stage-${crypto.randomUUID()}`;
  const store = storeDownFor(5);
  const worker = await workerOn(taskQueue, {
    applyEvent: store.applyEvent,
    deadLetter: recorder().deadLetter,
  });
  const base = input();
  const first = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(PROCESS_EVENT_WORKFLOW, {
      taskQueue,
      workflowId,
      args: [{ ...base, retry: { ...base.retry, maxAttempts: 2, outageRoundsPerRun: 2 } }],
    });
    await handle.result();
    return shownOf(workflowId, handle.firstExecutionRunId);
  });
  expect(first).toMatchObject({
    stage: 'waiting_for_store',
    outcome: 'store_unavailable',
    attempts: 0, // an outage spends no attempt
    errorClass: 'Error',
    lastError: { message: 'Error: connect ECONNREFUSED 127.0.0.1:25432', attempt: 1 },
  });
  expect(await shownOf(workflowId)).toMatchObject({ stage: 'done', outcome: 'applied', attempts: 0 });
});

test('a plain success adds no history event: no marker, upsert or memo change beyond what it had before IdemStage', async () => {
  const taskQueue = `test-${crypto.randomUUID()}`;
  const workflowId = `plain-${crypto.randomUUID()}`;
  const worker = await workerOn(taskQueue, {
    applyEvent: async (): Promise<ApplyEventResult> => ({ outcome: 'applied', outboxCount: 0 }),
    deadLetter: recorder().deadLetter,
  });
  await worker.runUntil(
    env.client.workflow.execute(PROCESS_EVENT_WORKFLOW, { taskQueue, workflowId, args: [input()] }),
  );
  // Started, the workflow task (scheduled, started, completed), the local activity's marker,
  // completed: 6, as the workflow wrote before IdemStage existed (measured on the commit before).
  expect(await historyCounts(workflowId)).toEqual({ total: 6, upserts: 0, memos: 0, markers: 1 });
  expect(await shownOf(workflowId)).toMatchObject({
    stage: undefined,
    attempts: undefined,
    outcome: undefined,
  });
});

test('histories written before IdemStage existed replay on this code (the patch keeps them deterministic), and so do its own', async () => {
  const fixtures = path.join(__dirname, 'fixtures');
  const files = fs.readdirSync(fixtures).filter((f) => f.startsWith('pre-stage-'));
  expect(files.sort()).toEqual([
    'pre-stage-dead-lettered.json',
    'pre-stage-retried.json',
    'pre-stage-store-unavailable.json',
  ]);
  for (const f of files) {
    const history = temporal.api.history.v1.History.fromObject(
      JSON.parse(fs.readFileSync(path.join(fixtures, f), 'utf8')) as object,
    );
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, f);
  }
  // This code's own history of a retried then dead-lettered event replays too.
  const taskQueue = `test-${crypto.randomUUID()}`;
  const workflowId = `replay-${crypto.randomUUID()}`;
  let calls = 0;
  const worker = await workerOn(taskQueue, {
    applyEvent: async () => {
      calls++;
      throw failing('Error', `failing (${calls})`, calls);
    },
    deadLetter: recorder().deadLetter,
  });
  await worker.runUntil(
    env.client.workflow
      .execute(PROCESS_EVENT_WORKFLOW, {
        taskQueue,
        workflowId,
        args: [testInput(testMessage({ type: 't' }))],
      })
      .catch(() => undefined),
  );
  const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId);
});

test('IDEM_APPLY_AS=regular: Temporal retries the activity, so IdemStage is set only once the retries are over', async () => {
  const taskQueue = `test-${crypto.randomUUID()}`;
  const workflowId = `regular-${crypto.randomUUID()}`;
  const worker = await workerOn(taskQueue, {
    applyEvent: async () => {
      const { attempt } = Context.current().info;
      throw failing('Error', `failing (${attempt})`, attempt);
    },
    deadLetter: recorder().deadLetter,
  });
  await worker.runUntil(
    env.client.workflow
      .execute(PROCESS_EVENT_WORKFLOW, {
        taskQueue,
        workflowId,
        args: [{ ...input(), shape: { applyAs: 'regular', upsertApplied: false } }],
      })
      .catch(() => undefined),
  );
  expect(await shownOf(workflowId)).toMatchObject({
    stage: 'dead_lettered',
    attempts: 3,
    errorClass: 'Error',
    lastError: { message: 'Error: failing (3)', attempt: 3 },
  });
  // TemporalChangeVersion, dead_lettering, dead_lettered: no retrying upsert.
  expect(await historyCounts(workflowId)).toMatchObject({ upserts: 3, memos: 1 });
});
