/**
 * What operators filter on in Temporal Web, on the real stack: an event whose handler keeps
 * failing is found by a visibility query on IdemStage and IdemAttempts while it retries, its memo
 * holds the last error, and `idem stuck`, `idem status` and `idem inspect` (the built CLI) show
 * them; released,
 * it says done. A permanent failure is found by IdemStage and IdemErrorClass once dead-lettered.
 * A plain success carries none of them.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PermanentHandlerError } from '../../src/errors';
import { workflowIdFor } from '../../src/events/identity';
import {
  IdemAttempts,
  IdemErrorClass,
  IdemOutcome,
  IdemStage,
  LAST_ERROR_MEMO,
  type LastError,
} from '../../src/workflows/search-attributes';
import { ceRecord, createPipeline, ledgerRegistry, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const REPO = path.resolve(__dirname, '..', '..');

/** The built CLI with the pipeline's environment. */
function idem(p: Pipeline, ...args: string[]): Promise<{ code: number | null; stdout: string }> {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(REPO, 'bin', 'idem.js'), ...args],
      { cwd: REPO, env: { ...process.env, ...p.env }, timeout: 120_000 },
      (err, stdout) => {
        const code = err ? ((err as { code?: number | string }).code ?? null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout });
      },
    );
  });
}

class LedgerUnavailableError extends Error {
  override name = 'LedgerUnavailableError';
}

let p: Pipeline;

beforeAll(async () => {
  p = await createPipeline('operator-attrs', {
    // Retries go on until the test lets the handler succeed.
    IDEM_MAX_ATTEMPTS: '1000',
    IDEM_RETRY_INITIAL_MS: '100',
    IDEM_RETRY_MAX_MS: '500',
  });
}, 60_000);

afterAll(async () => {
  await p?.close();
});

/** Workflow IDs of this pipeline's events that `filter` matches in Temporal's visibility. */
async function visible(filter: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of p.temporal.workflow.list({ query: `IdemSource = "${p.source}" AND ${filter}` }))
    ids.push(wf.workflowId);
  return ids.sort();
}

test('a retrying event is found by IdemStage and IdemAttempts, a dead-lettered one by IdemErrorClass, a plain success carries neither', async () => {
  let ledgerUp = false;
  const registry = ledgerRegistry()
    .register('test.flaky', () => {
      if (!ledgerUp) throw new LedgerUnavailableError('the ledger service answered 503');
    })
    .register('test.refused', () => {
      throw new PermanentHandlerError('account acct-0 is closed');
    })
    .register('test.fine', () => undefined);
  await p.start(['ingester', 'worker', 'relay'], registry);
  const run = crypto.randomBytes(3).toString('hex');
  const ids = { flaky: `flaky-${run}`, refused: `refused-${run}`, fine: `fine-${run}` };
  const wf = (id: string) => workflowIdFor(p.source, id);
  await p.producer.send({
    topic: p.topic,
    messages: [
      ceRecord(p.source, { id: ids.flaky, type: 'test.flaky', data: {} }, `k-flaky-${run}`),
      ceRecord(p.source, { id: ids.refused, type: 'test.refused', data: {} }, `k-refused-${run}`),
      ceRecord(p.source, { id: ids.fine, type: 'test.fine', data: {} }, `k-fine-${run}`),
    ],
  });

  // The query an operator pastes into Temporal Web's list filter.
  const retrying = `IdemStage = "retrying" AND IdemAttempts >= 2 AND ExecutionStatus = "Running"`;
  await eventually(
    async () => (await visible(retrying)).join() === wf(ids.flaky),
    60_000,
    'the retrying event',
  );
  const d = await p.temporal.workflow.getHandle(wf(ids.flaky)).describe();
  expect(d.typedSearchAttributes.get(IdemErrorClass)).toBe('LedgerUnavailableError');
  expect(d.typedSearchAttributes.get(IdemAttempts)).toBeGreaterThanOrEqual(2);
  expect(d.memo?.[LAST_ERROR_MEMO]).toMatchObject({
    class: 'LedgerUnavailableError',
    message: 'LedgerUnavailableError: the ledger service answered 503',
    reason: 'handler_failed',
  } satisfies Partial<LastError>);
  expect(d.memo?.kafka).toMatchObject({ topic: p.topic }); // the start's memo stays

  // The built CLI shows the same.
  const stuck = await idem(p, 'stuck', '--older-than', '1s');
  expect(stuck.code).toBe(1);
  expect(stuck.stdout).toMatch(/stage retrying, \d+ failed attempt\(s\), last error LedgerUnavailableError/);
  const stuckJson = JSON.parse((await idem(p, 'stuck', '--older-than', '1s', '--json')).stdout) as {
    events: { workflowId: string; stage?: string; attempts?: number; errorClass?: string }[];
  };
  expect(stuckJson.events.find((e) => e.workflowId === wf(ids.flaky))).toMatchObject({
    stage: 'retrying',
    errorClass: 'LedgerUnavailableError',
  });
  const statusJson = JSON.parse((await idem(p, 'status', '--json')).stdout) as {
    workflows: { running: number; runningByStage: Record<string, number> };
  };
  expect(statusJson.workflows.runningByStage).toMatchObject({ retrying: 1, waiting_for_store: 0 });
  expect((await idem(p, 'status')).stdout).toMatch(/: 1 running \(1 retrying\), none stuck/);
  const inspect = await idem(p, 'inspect', wf(ids.flaky));
  expect(inspect.stdout).toMatch(
    /stage {7}retrying, \d+ failed attempt\(s\), last error LedgerUnavailableError/,
  );
  expect(inspect.stdout).toMatch(
    /last error {2}LedgerUnavailableError: the ledger service answered 503 \(attempt \d+, handler_failed, at /,
  );

  // The permanent failure: dead-lettered at its first attempt.
  await eventually(
    async () =>
      (await visible('IdemStage = "dead_lettered" AND IdemErrorClass = "PermanentHandlerError"')).join() ===
      wf(ids.refused),
    60_000,
    'the dead-lettered event',
  );
  const refused = await p.temporal.workflow.getHandle(wf(ids.refused)).describe();
  expect(refused.status.name).toBe('FAILED');
  expect(refused.typedSearchAttributes.get(IdemOutcome)).toBe('dead_lettered');
  expect(refused.typedSearchAttributes.get(IdemAttempts)).toBe(1);
  const inspectJson = JSON.parse((await idem(p, 'inspect', wf(ids.refused), '--json')).stdout) as {
    workflow: { stage: string; attempts: number; errorClass: string; lastError: LastError };
  }[];
  expect(inspectJson[0]?.workflow).toMatchObject({
    stage: 'dead_lettered',
    attempts: 1,
    errorClass: 'PermanentHandlerError',
    lastError: { message: 'PermanentHandlerError: account acct-0 is closed' },
  });

  // The ledger is back: the next attempt applies the event, and it says done.
  ledgerUp = true;
  await eventually(
    async () => (await visible('IdemStage = "done" AND IdemOutcome = "applied"')).join() === wf(ids.flaky),
    60_000,
    'the retried event applied',
  );
  // The plain success carries no stage, attempts or outcome.
  const fine = await p.temporal.workflow.getHandle(wf(ids.fine)).describe();
  expect(fine.status.name).toBe('COMPLETED');
  expect(fine.typedSearchAttributes.get(IdemStage)).toBeUndefined();
  expect(fine.typedSearchAttributes.get(IdemAttempts)).toBeUndefined();
  expect(fine.memo?.[LAST_ERROR_MEMO]).toBeUndefined();
});
