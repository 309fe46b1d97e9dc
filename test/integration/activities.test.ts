/**
 * applyEvent and deadLetter in Temporal's MockActivityEnvironment, against a real
 * PostgreSQL (a fresh database for this file). The DLQ publisher is an in-memory
 * recorder: the Kafka side is covered by the pipeline tests.
 */
import crypto from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { z } from 'zod';

import { createActivities, type Activities } from '../../src/activities';
import {
  countLedgerEntries,
  getBalances,
  handlers as ledgerHandlers,
  insertLedgerEntry,
} from '../../examples/ledger';
import { HandlerRegistry } from '../../src/activities/handlers/registry';
import { readDlqHeaders } from '../../src/dlq/headers';
import type { DlqPublisher, DlqRecord } from '../../src/dlq/publisher';
import { PermanentHandlerError } from '../../src/errors';
import { workflowIdFor } from '../../src/events/identity';
import type { RawMessage } from '../../src/events/types';
import { countOutbox, fetchUnpublishedOutbox, getProcessedEvent } from '../../src/store/sql';
import type {
  ApplyEventInput,
  ApplyEventResult,
  ApplyFailureDetails,
  DeadLetterInput,
  DeadLetterResult,
  EventSummary,
} from '../../src/workflows/types';
import { RecordingDlqPublisher } from '../../src/testing';
import { silentLogger } from '../../src/observability/logger';
import { createPool } from '../../src/store/pool';
import { useTestDatabase } from '../support/db';
import { startBlocked } from '../support/locks';
import { eventually } from '../support/poll';

jest.setTimeout(30_000);

const OUTBOX_TOPIC = 'events.outbox';
const SOURCE = 'test-activities';

const db = useTestDatabase('activities');

const uid = () => crypto.randomBytes(6).toString('hex');

function makeActivities(
  registry = new HandlerRegistry().add(...(ledgerHandlers ?? [])),
  dlq: DlqPublisher = new RecordingDlqPublisher(),
) {
  return createActivities({
    pool: db.pool,
    registry,
    dlq,
    maxEventBytes: 64 * 1024,
    outboxTopic: OUTBOX_TOPIC,
  });
}

interface TestEvent {
  id: string;
  type: string;
  data: unknown;
}

function ledgerEvent(
  type: 'account.credited' | 'account.debited',
  account: string,
  amount: number,
): TestEvent {
  return { id: `e-${uid()}`, type, data: { account, amount } };
}

/** A structured-mode CloudEvent as the ingester would hand it over. */
function message(ev: TestEvent, extraHeaders: Record<string, string> = {}): RawMessage {
  return {
    topic: 'events',
    partition: 2,
    offset: '1234',
    timestamp: '1700000000000',
    key: { utf8: 'the-key' },
    value: JSON.stringify({ specversion: '1.0', id: ev.id, source: SOURCE, type: ev.type, data: ev.data }),
    headers: {
      'content-type': { utf8: 'application/cloudevents+json' },
      ...Object.fromEntries(Object.entries(extraHeaders).map(([k, v]) => [k, { utf8: v }])),
    },
  };
}

const dedupKey = (ev: TestEvent) => workflowIdFor(SOURCE, ev.id);

interface RunInfo {
  attempt?: number;
  runId?: string;
  workflowId?: string;
}

function env(info: RunInfo = {}): MockActivityEnvironment {
  return new MockActivityEnvironment({
    attempt: info.attempt ?? 1,
    workflowExecution: { workflowId: info.workflowId ?? 'wf', runId: info.runId ?? 'run-1' },
  });
}

function apply(acts: Activities, input: ApplyEventInput, info?: RunInfo): Promise<ApplyEventResult> {
  return env(info).run<[ApplyEventInput], ApplyEventResult, Activities['applyEvent']>(acts.applyEvent, input);
}

function deadLetter(acts: Activities, input: DeadLetterInput, info?: RunInfo): Promise<DeadLetterResult> {
  return env(info).run<[DeadLetterInput], DeadLetterResult, Activities['deadLetter']>(acts.deadLetter, input);
}

/** The ApplicationFailure an activity threw. */
async function failureOf(
  p: Promise<unknown>,
): Promise<ApplicationFailure & { details: [ApplyFailureDetails] }> {
  const err: unknown = await p.then(
    () => {
      throw new Error('expected the activity to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure & { details: [ApplyFailureDetails] };
}

async function balance(account: string): Promise<number | undefined> {
  return (await getBalances(db.pool, [account]))[0]?.balance;
}

function summary(ev: TestEvent): EventSummary {
  return { id: ev.id, source: SOURCE, type: ev.type, key: 'the-key' };
}

describe('applyEvent', () => {
  let acts: Activities;
  beforeAll(() => {
    acts = makeActivities();
  });

  it('applies an event once: ledger entry, balance, dedup row and an outbox event', async () => {
    const account = `acct-${uid()}`;
    const ev = ledgerEvent('account.credited', account, 1250);
    await expect(apply(acts, { message: message(ev), redrive: false }, { attempt: 2 })).resolves.toEqual({
      outcome: 'applied',
      outboxCount: 1,
    });
    expect(await balance(account)).toBe(1250);
    expect(await countLedgerEntries(db.pool, { dedupKey: dedupKey(ev) })).toBe(1);
    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toMatchObject({
      status: 'applied',
      source: SOURCE,
      id: ev.id,
      type: 'account.credited',
      eventKey: 'the-key',
      attempts: 2,
      workflowId: 'wf',
      runId: 'run-1',
      kafkaTopic: 'events',
      kafkaPartition: 2,
      kafkaOffset: '1234',
    });
    const outbox = await db.pool.query(`select * from outbox where caused_by = $1`, [dedupKey(ev)]);
    expect(outbox.rows).toEqual([
      expect.objectContaining({
        topic: OUTBOX_TOPIC,
        type: 'account.balance_changed',
        source: 'idem',
        message_key: account,
        subject: account,
        data: { account, delta: 1250, balance: 1250, causedBy: dedupKey(ev) },
        published_at: null,
      }),
    ]);
  });

  it('the same event twice: the second is a duplicate and changes nothing', async () => {
    const account = `acct-${uid()}`;
    const ev = ledgerEvent('account.credited', account, 300);
    const debit = ledgerEvent('account.debited', account, 500);
    await apply(acts, { message: message(ev), redrive: false });
    await apply(acts, { message: message(debit), redrive: false });
    expect(await balance(account)).toBe(-200); // a debit may overdraw (documented choice)

    await expect(apply(acts, { message: message(ev), redrive: false }, { runId: 'run-2' })).resolves.toEqual({
      outcome: 'duplicate',
      outboxCount: 0,
    });
    await expect(apply(acts, { message: message(debit), redrive: false })).resolves.toMatchObject({
      outcome: 'duplicate',
    });
    expect(await balance(account)).toBe(-200);
    expect(await countLedgerEntries(db.pool, { account })).toBe(2);
    expect((await countOutbox(db.pool, { causedBy: dedupKey(ev) })).total).toBe(1);
    expect((await getProcessedEvent(db.pool, dedupKey(ev)))?.runId).toBe('run-1');
  });

  it('concurrent runs of one event apply it once', async () => {
    const account = `acct-${uid()}`;
    const ev = ledgerEvent('account.credited', account, 100);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        apply(acts, { message: message(ev), redrive: false }, { runId: `run-${i}` }),
      ),
    );
    expect(results.filter((r) => r.outcome === 'applied')).toHaveLength(1);
    expect(results.filter((r) => r.outcome === 'duplicate')).toHaveLength(7);
    expect(await balance(account)).toBe(100);
    expect(await countLedgerEntries(db.pool, { account })).toBe(1);
  });

  describe("a second run waits on the first run's uncommitted claim", () => {
    /** A handler that writes, then waits at a gate; `fail` makes it throw after the gate. */
    function gated() {
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      const state = { entered: 0, fail: false };
      const registry = new HandlerRegistry().register('test.gated', async (ctx) => {
        state.entered++;
        await insertLedgerEntry(ctx.tx, { dedupKey: ctx.dedupKey, account: 'gated', amount: 1 });
        if (state.entered === 1) await gate;
        if (state.fail && state.entered === 1) throw new Error('first run failed');
      });
      return { acts: makeActivities(registry), open, state };
    }

    it.each([
      ['commits', false, ['applied', 'duplicate']],
      ['fails', true, ['failed', 'applied']],
    ] as const)('when the first %s', async (_what, fail, expected) => {
      const g = gated();
      g.state.fail = fail;
      const ev: TestEvent = { id: `e-${uid()}`, type: 'test.gated', data: {} };
      const settle = (p: Promise<{ outcome: string }>) =>
        p.then(
          (r) => r.outcome,
          () => 'failed',
        );

      const first = settle(apply(g.acts, { message: message(ev), redrive: false }, { runId: 'run-a' }));
      await eventually(() => g.state.entered === 1, 10_000, 'the first handler to start', 10);
      const second = await startBlocked(
        db.pool,
        () => settle(apply(g.acts, { message: message(ev), redrive: false }, { runId: 'run-b' })),
        'the second claim',
      );
      expect(g.state.entered).toBe(1);

      g.open();
      expect([await first, await second.result]).toEqual(expected);
      expect(await countLedgerEntries(db.pool, { dedupKey: dedupKey(ev) })).toBe(1);
      expect((await getProcessedEvent(db.pool, dedupKey(ev)))?.runId).toBe(fail ? 'run-b' : 'run-a');
    });

    it("past the lock timeout: the second reports the claim held (the workflow waits, no attempt spent), then finds the first's commit", async () => {
      // A worker frozen mid-attempt (SIGSTOP) holds the claim like this while its workflow moves on.
      const g = gated();
      const pool = createPool({ url: db.url, max: 2, logger: silentLogger, lockTimeoutMs: 300 });
      try {
        const second = createActivities({
          pool,
          registry: new HandlerRegistry(),
          dlq: new RecordingDlqPublisher(),
          maxEventBytes: 64 * 1024,
          outboxTopic: OUTBOX_TOPIC,
        });
        const ev: TestEvent = { id: `e-${uid()}`, type: 'test.gated', data: {} };
        const first = apply(g.acts, { message: message(ev), redrive: false }, { runId: 'run-a' });
        await eventually(() => g.state.entered === 1, 10_000, 'the first handler to start', 10);

        const held = await failureOf(
          apply(second, { message: message(ev), redrive: false }, { runId: 'run-b' }),
        );
        expect(held).toMatchObject({ type: 'ClaimHeldError', nonRetryable: true });
        expect(held.details[0]).toMatchObject({ claimHeld: true });
        expect(held.details[0].storeUnavailable).toBeUndefined();

        g.open();
        await expect(first).resolves.toMatchObject({ outcome: 'applied' });
        await expect(
          apply(second, { message: message(ev), redrive: false }, { runId: 'run-b', attempt: 1 }),
        ).resolves.toMatchObject({ outcome: 'duplicate' });
      } finally {
        await pool.end();
      }
    });
  });

  it('dead-lettered, then redelivered: a duplicate; then redriven: applied once; redriven again: a duplicate', async () => {
    const dlq = new RecordingDlqPublisher();
    const a = makeActivities(undefined, dlq);
    const account = `acct-${uid()}`;
    const ev = ledgerEvent('account.credited', account, 700);
    await deadLetter(
      a,
      {
        event: summary(ev),
        message: message(ev),
        reason: 'handler_failed',
        error: 'Error: database on fire',
        attempts: 5,
      },
      { runId: 'run-1' },
    );
    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toMatchObject({
      status: 'dead_lettered',
      deadLetteredCount: 1,
    });

    await expect(apply(a, { message: message(ev), redrive: false }, { runId: 'run-2' })).resolves.toEqual({
      outcome: 'duplicate',
      outboxCount: 0,
    });
    expect(await balance(account)).toBeUndefined();

    await expect(apply(a, { message: message(ev), redrive: true }, { runId: 'run-3' })).resolves.toEqual({
      outcome: 'applied',
      outboxCount: 1,
    });
    await expect(apply(a, { message: message(ev), redrive: true }, { runId: 'run-4' })).resolves.toEqual({
      outcome: 'duplicate',
      outboxCount: 0,
    });
    expect(await balance(account)).toBe(700);
    expect(await countLedgerEntries(db.pool, { account })).toBe(1);
    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toMatchObject({
      status: 'applied',
      runId: 'run-3',
      deadLetteredCount: 1,
      redriveCount: 1,
    });
  });

  it('an unknown event type fails non-retryably with reason unknown_type', async () => {
    const ev: TestEvent = { id: `e-${uid()}`, type: 'nobody.handles.this', data: {} };
    const f = await failureOf(apply(acts, { message: message(ev), redrive: false }, { attempt: 1 }));
    expect(f).toMatchObject({ type: 'UnknownEventTypeError', nonRetryable: true });
    expect(f.details).toEqual([{ reason: 'unknown_type', attempt: 1 }]);
    expect(f.message).toContain('nobody.handles.this');
    expect(f.message).toContain('account.credited');
    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toBeUndefined();
  });

  it.each([
    ['a missing amount', { account: 'a' }],
    ['a negative amount', { account: 'a', amount: -5 }],
    ['a fractional amount', { account: 'a', amount: 1.5 }],
    ['an empty account', { account: '', amount: 5 }],
    ['no data', null],
  ])('invalid data (%s) fails non-retryably with reason invalid_payload', async (_what, data) => {
    const ev: TestEvent = { id: `e-${uid()}`, type: 'account.credited', data };
    const f = await failureOf(apply(acts, { message: message(ev), redrive: false }, { attempt: 1 }));
    expect(f).toMatchObject({ type: 'InvalidPayloadError', nonRetryable: true });
    expect(f.details).toEqual([{ reason: 'invalid_payload', attempt: 1 }]);
    expect(f.message).toContain('invalid data for event type "account.credited"');
    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toBeUndefined();
  });

  it('a record that does not parse fails non-retryably with the parser reason', async () => {
    const ev = ledgerEvent('account.credited', 'a', 1);
    const notJson = { ...message(ev), value: 'not json', headers: {} };
    const f = await failureOf(apply(acts, { message: notJson, redrive: false }));
    expect(f).toMatchObject({ type: 'InvalidEnvelopeError', nonRetryable: true });
    expect(f.details).toEqual([{ reason: 'invalid_envelope', attempt: 1 }]);

    const small = createActivities({
      pool: db.pool,
      registry: new HandlerRegistry(),
      dlq: new RecordingDlqPublisher(),
      maxEventBytes: 10,
      outboxTopic: OUTBOX_TOPIC,
    });
    const tooLarge = await failureOf(apply(small, { message: message(ev), redrive: false }));
    expect(tooLarge).toMatchObject({ type: 'InvalidEnvelopeError', nonRetryable: true });
    expect(tooLarge.details).toEqual([{ reason: 'too_large', attempt: 1 }]);
  });

  it('a transient handler error is retryable with reason handler_failed and rolls everything back', async () => {
    const registry = new HandlerRegistry().register(
      'test.flaky',
      async (ctx, data: { account: string }) => {
        await insertLedgerEntry(ctx.tx, { dedupKey: ctx.dedupKey, account: data.account, amount: 1 });
        await ctx.emit({ type: 'test.emitted', data: { n: 1 } });
        throw new Error('connection reset by peer');
      },
      { schema: z.object({ account: z.string() }) },
    );
    const a = makeActivities(registry);
    const account = `acct-${uid()}`;
    const ev: TestEvent = { id: `e-${uid()}`, type: 'test.flaky', data: { account } };
    const f = await failureOf(apply(a, { message: message(ev), redrive: false }, { attempt: 3 }));
    expect(f).toMatchObject({ type: 'Error', nonRetryable: false, message: 'connection reset by peer' });
    expect(f.details).toEqual([{ reason: 'handler_failed', attempt: 3 }]);

    expect(await countLedgerEntries(db.pool, { account })).toBe(0);
    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toBeUndefined();
    expect(await countOutbox(db.pool, { causedBy: dedupKey(ev) })).toEqual({ total: 0, unpublished: 0 });
  });

  it('PermanentHandlerError fails non-retryably with reason handler_failed', async () => {
    const registry = new HandlerRegistry().register('test.refused', () => {
      throw new PermanentHandlerError('account is closed');
    });
    const ev: TestEvent = { id: `e-${uid()}`, type: 'test.refused', data: {} };
    const f = await failureOf(
      apply(makeActivities(registry), { message: message(ev), redrive: false }, { attempt: 2 }),
    );
    expect(f).toMatchObject({
      type: 'PermanentHandlerError',
      nonRetryable: true,
      message: 'account is closed',
    });
    expect(f.details).toEqual([{ reason: 'handler_failed', attempt: 2 }]);
    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toBeUndefined();
  });

  it('a handler that swallows an SQL error does not report the event applied', async () => {
    const account = `acct-${uid()}`;
    const registry = new HandlerRegistry().register('test.swallow', async (ctx) => {
      await insertLedgerEntry(ctx.tx, { dedupKey: ctx.dedupKey, account, amount: 1 });
      await ctx.tx.query('select 1/0').catch(() => undefined);
    });
    const ev: TestEvent = { id: `e-${uid()}`, type: 'test.swallow', data: {} };
    const f = await failureOf(apply(makeActivities(registry), { message: message(ev), redrive: false }));
    expect(f.nonRetryable).toBe(false);
    expect(f.message).toContain('rolled back at commit');
    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toBeUndefined();
    expect(await countLedgerEntries(db.pool, { account })).toBe(0);
  });

  it('a handler that emits and swallows an SQL error does not report the event applied either', async () => {
    // The outbox rows go in COMMIT's message: they meet the aborted transaction before COMMIT does.
    const account = `acct-${uid()}`;
    const registry = new HandlerRegistry()
      .add(...(ledgerHandlers ?? []))
      .register('test.swallow-emit', async (ctx) => {
        await insertLedgerEntry(ctx.tx, { dedupKey: ctx.dedupKey, account, amount: 1 });
        await ctx.emit({ type: 'test.emitted', data: { n: 1 } });
        await ctx.tx.query('select 1/0').catch(() => undefined);
      });
    const ev: TestEvent = { id: `e-${uid()}`, type: 'test.swallow-emit', data: {} };
    const acts = makeActivities(registry);
    const f = await failureOf(apply(acts, { message: message(ev), redrive: false }));
    expect(f.nonRetryable).toBe(false);
    expect(f.message).toContain('rolled back at commit');
    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toBeUndefined();
    expect(await countLedgerEntries(db.pool, { account })).toBe(0);
    expect(await countOutbox(db.pool, { causedBy: dedupKey(ev) })).toEqual({ total: 0, unpublished: 0 });
    // Every pooled connection was handed back out of its transaction: the next events apply.
    for (let i = 0; i < 12; i++) {
      const next = ledgerEvent('account.credited', account, 1);
      await expect(apply(acts, { message: message(next), redrive: false })).resolves.toMatchObject({
        outcome: 'applied',
      });
    }
    expect(await balance(account)).toBe(12);
  });

  it("idem's statements share BEGIN's and COMMIT's messages: the ledger's one statement and one emit cost three", async () => {
    const sent: string[] = [];
    const pool = createPool({ url: db.url, max: 1, logger: silentLogger });
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as { query: unknown }).query = (...args: unknown[]) => {
        const text = typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: unknown }).text);
        sent.push(text.replace(/\s+/g, ' ').trim().split(' ').slice(0, 3).join(' '));
        return query(...args);
      };
    });
    try {
      const acts = createActivities({
        pool,
        registry: new HandlerRegistry().add(...(ledgerHandlers ?? [])),
        dlq: new RecordingDlqPublisher(),
        maxEventBytes: 64 * 1024,
        outboxTopic: OUTBOX_TOPIC,
      });
      const account = `acct-${uid()}`;
      await expect(
        apply(acts, { message: message(ledgerEvent('account.credited', account, 5)), redrive: false }),
      ).resolves.toMatchObject({ outcome: 'applied', outboxCount: 1 });
      expect(sent).toEqual([
        'begin; insert into',
        // recordLedgerEntry: the entry and the balance in one statement
        'with entry as',
        'insert into outbox',
      ]);
      expect(await balance(account)).toBe(5);
    } finally {
      await pool.end();
    }
  });

  it('strings with quotes, backslashes and any Unicode reach the store as they were', async () => {
    const odd = `it's a \\ back\\slash, "quoted", $1, E'x', 🦆, \u00e9, \r\n; drop table outbox; --`;
    const registry = new HandlerRegistry().register('test.odd', async (ctx) => {
      await ctx.emit({ type: odd, data: { odd, nested: [odd] }, key: odd, subject: odd, source: odd });
    });
    // CloudEvents attributes hold no control characters; everything else goes.
    const ev: TestEvent = { id: `e-${uid()}-${odd.replace(/[\r\n]/g, '')}`, type: 'test.odd', data: {} };
    await expect(
      apply(makeActivities(registry), { message: message(ev), redrive: false }),
    ).resolves.toMatchObject({ outcome: 'applied', outboxCount: 1 });
    const row = await getProcessedEvent(db.pool, dedupKey(ev));
    expect(row).toMatchObject({ id: ev.id, source: SOURCE, type: 'test.odd' });
    const out = (await fetchUnpublishedOutbox(db.pool, 10_000)).filter((r) => r.causedBy === dedupKey(ev));
    expect(out.map((r) => [r.type, r.messageKey, r.subject, r.source, r.data])).toEqual([
      [odd, odd, odd, odd, { odd, nested: [odd] }],
    ]);
  });

  it('emit rejects a row the store cannot hold when it is emitted, not at commit', async () => {
    const caught: string[] = [];
    const registry = new HandlerRegistry().register('test.bad-emit', async (ctx) => {
      for (const out of [
        { type: 'a', data: { n: 1n } },
        { type: 'a\0b', data: {} },
        { type: '', data: {} },
      ])
        await ctx.emit(out).catch((err: Error) => caught.push(err.constructor.name));
      await ctx.emit({ type: 'fine', data: null });
    });
    const ev: TestEvent = { id: `e-${uid()}`, type: 'test.bad-emit', data: {} };
    await expect(
      apply(makeActivities(registry), { message: message(ev), redrive: false }),
    ).resolves.toMatchObject({ outcome: 'applied', outboxCount: 1 });
    expect(caught).toEqual(['TypeError', 'TypeError', 'TypeError']);
  });

  it('hands the handler its context: dedup key, attempt, redrive flag, same transaction', async () => {
    const seen: unknown[] = [];
    const registry = new HandlerRegistry().register('test.context', async (ctx) => {
      const { rows } = await ctx.tx.query<{ status: string }>(
        'select status from processed_events where event_id = $1',
        [ctx.dedupKey],
      );
      seen.push({
        dedupKey: ctx.dedupKey,
        attempt: ctx.attempt,
        redrive: ctx.redrive,
        status: rows[0]?.status,
      });
      await ctx.emit({ type: 'a', data: [1], key: 'k', subject: 's', topic: 'elsewhere', source: 'me' });
      await ctx.emit({ type: 'b', data: 'text' });
    });
    const ev: TestEvent = { id: `e-${uid()}`, type: 'test.context', data: {} };
    const acts = makeActivities(registry);
    // A redrive claims only a dead-lettered event.
    await deadLetter(acts, {
      event: summary(ev),
      message: message(ev),
      reason: 'handler_failed',
      error: 'Error: first try',
      attempts: 1,
    });
    await expect(apply(acts, { message: message(ev), redrive: true }, { attempt: 4 })).resolves.toEqual({
      outcome: 'applied',
      outboxCount: 2,
    });
    expect(seen).toEqual([{ dedupKey: dedupKey(ev), attempt: 4, redrive: true, status: 'applied' }]);
    const rows = (await fetchUnpublishedOutbox(db.pool, 10_000)).filter((r) => r.causedBy === dedupKey(ev));
    expect(rows.map((r) => [r.type, r.topic, r.source, r.messageKey, r.subject, r.data])).toEqual([
      ['a', 'elsewhere', 'me', 'k', 's', [1]],
      ['b', OUTBOX_TOPIC, 'idem', null, null, 'text'],
    ]);
  });
});

describe('deadLetter', () => {
  function input(ev: TestEvent, over: Partial<DeadLetterInput> = {}): DeadLetterInput {
    return {
      event: summary(ev),
      message: message(ev, { traceparent: '00-abc-def-01', 'idem-reason': 'stale from an earlier round' }),
      reason: 'handler_failed',
      error: `Error: ${'x'.repeat(2000)}`,
      attempts: 5,
      ...over,
    };
  }

  it('marks the row and publishes the original record with the idem headers', async () => {
    const dlq = new RecordingDlqPublisher();
    const a = makeActivities(undefined, dlq);
    const ev = ledgerEvent('account.credited', 'a', 1);
    const before = Date.now();
    const result = await deadLetter(a, input(ev), { runId: 'run-1', workflowId: 'wf-1' });
    expect(result).toEqual({ topic: 'events.dlq', partition: 0, offset: '0' });

    expect(dlq.records).toHaveLength(1);
    const rec = dlq.records[0] as DlqRecord;
    expect(rec.topic).toBe('events.dlq');
    expect(rec.key).toEqual(Buffer.from('the-key'));
    expect(rec.value).toEqual(Buffer.from(message(ev).value));
    expect(rec.headers['content-type']).toEqual(Buffer.from('application/cloudevents+json'));
    expect(rec.headers['traceparent']).toEqual(Buffer.from('00-abc-def-01'));

    const h = readDlqHeaders(rec.headers);
    expect(h).toMatchObject({
      reason: 'handler_failed',
      attempts: 5,
      originalTopic: 'events',
      originalPartition: 2,
      originalOffset: '1234',
      originalTimestamp: '1700000000000',
      workflowId: 'wf-1',
      runId: 'run-1',
      cloudEventId: ev.id,
      eventSource: SOURCE,
      eventType: 'account.credited',
    });
    expect(h?.error.length).toBeLessThanOrEqual(1000);
    expect(h?.error.startsWith('Error: xxx')).toBe(true);
    expect(h?.deadLetteredAt?.getTime()).toBeGreaterThanOrEqual(before - 1000);
    for (const name of [
      'idem-reason',
      'idem-error',
      'idem-attempts',
      'idem-original-topic',
      'idem-original-partition',
      'idem-original-offset',
      'idem-workflow-id',
      'idem-run-id',
      'idem-dead-lettered-at',
    ]) {
      expect(rec.headers).toHaveProperty([name]);
    }

    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toMatchObject({
      status: 'dead_lettered',
      attempts: 5,
      workflowId: 'wf-1',
      runId: 'run-1',
      lastReason: 'handler_failed',
      deadLetteredCount: 1,
      dlqTopic: 'events.dlq',
      dlqPartition: 0,
      dlqOffset: '0',
    });
  });

  it('a retry in the same run neither counts again nor publishes again', async () => {
    const dlq = new RecordingDlqPublisher();
    const a = makeActivities(undefined, dlq);
    const ev = ledgerEvent('account.credited', 'a', 1);
    const first = await deadLetter(a, input(ev), { runId: 'run-1' });
    const retry = await deadLetter(a, input(ev), { runId: 'run-1', attempt: 2 });
    expect(retry).toEqual(first);
    expect(dlq.records).toHaveLength(1);
    expect((await getProcessedEvent(db.pool, dedupKey(ev)))?.deadLetteredCount).toBe(1);
  });

  it('a publish that failed is retried: one record, counted once', async () => {
    const dlq = new RecordingDlqPublisher();
    let failures = 2;
    const flaky: DlqPublisher = {
      publish: (record) =>
        failures-- > 0 ? Promise.reject(new Error('broker unavailable')) : dlq.publish(record),
    };
    const a = makeActivities(undefined, flaky);
    const ev = ledgerEvent('account.credited', 'a', 1);
    await expect(deadLetter(a, input(ev), { runId: 'run-1' })).rejects.toThrow('broker unavailable');
    await expect(deadLetter(a, input(ev), { runId: 'run-1', attempt: 2 })).rejects.toThrow(
      'broker unavailable',
    );
    await deadLetter(a, input(ev), { runId: 'run-1', attempt: 3 });
    expect(dlq.records).toHaveLength(1);
    expect((await getProcessedEvent(db.pool, dedupKey(ev)))?.deadLetteredCount).toBe(1);
  });

  it('another run (a redrive that failed again) counts and publishes once more', async () => {
    const dlq = new RecordingDlqPublisher();
    const a = makeActivities(undefined, dlq);
    const ev = ledgerEvent('account.credited', 'a', 1);
    await deadLetter(a, input(ev), { runId: 'run-1' });
    await deadLetter(a, input(ev, { reason: 'invalid_payload', error: 'bad amount', attempts: 1 }), {
      runId: 'run-2',
      workflowId: 'redrive:0:0:wf',
    });
    expect(dlq.records).toHaveLength(2);
    expect(readDlqHeaders(dlq.records[1]?.headers)).toMatchObject({
      reason: 'invalid_payload',
      runId: 'run-2',
      workflowId: 'redrive:0:0:wf',
    });
    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toMatchObject({
      deadLetteredCount: 2,
      runId: 'run-2',
      lastReason: 'invalid_payload',
      dlqOffset: '1',
    });
  });

  it('never marks an applied event dead-lettered', async () => {
    const dlq = new RecordingDlqPublisher();
    const a = makeActivities(undefined, dlq);
    const account = `acct-${uid()}`;
    const ev = ledgerEvent('account.credited', account, 5);
    await apply(a, { message: message(ev), redrive: false });
    await deadLetter(a, input(ev), { runId: 'run-9' });
    expect(await getProcessedEvent(db.pool, dedupKey(ev))).toMatchObject({
      status: 'applied',
      deadLetteredCount: 0,
    });
    expect(await balance(account)).toBe(5);
  });
});
