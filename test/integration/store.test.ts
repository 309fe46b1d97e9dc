/** The SQL statements of src/store/sql (and of the ledger example's examples/ledger/sql) against a real PostgreSQL (a fresh database for this file). */
import crypto from 'node:crypto';

import {
  addToBalance,
  countLedgerEntries,
  getBalances,
  insertLedgerEntry,
  recordLedgerEntry,
} from '../../examples/ledger';
import {
  claimEvent,
  countOutbox,
  fetchUnpublishedOutbox,
  getProcessedEvent,
  insertOutbox,
  markDeadLettered,
  markOutboxPublished,
  recordDeadLetterPublished,
  type ClaimEventRow,
  type MarkDeadLetteredRow,
} from '../../src/store/sql';
import { nextParkedEvent, parkEvent, parkKey } from '../../src/store/sql/key-parking';
import { inTx, openTransaction, useTestDatabase } from '../support/db';
import { startBlocked } from '../support/locks';

jest.setTimeout(30_000);

const db = useTestDatabase('store');

const uid = () => crypto.randomBytes(6).toString('hex');

function claimRow(dedupKey: string, over: Partial<ClaimEventRow> = {}): ClaimEventRow {
  return {
    dedupKey,
    source: 'test',
    id: dedupKey,
    type: 'account.credited',
    eventKey: 'acct',
    attempt: 1,
    workflowId: dedupKey,
    runId: 'run-1',
    kafkaTopic: 'events',
    kafkaPartition: 0,
    kafkaOffset: '42',
    redrive: false,
    ...over,
  };
}

function deadRow(dedupKey: string, over: Partial<MarkDeadLetteredRow> = {}): MarkDeadLetteredRow {
  return {
    dedupKey,
    source: 'test',
    id: dedupKey,
    type: 'account.credited',
    eventKey: 'acct',
    attempts: 3,
    workflowId: dedupKey,
    runId: 'run-1',
    kafkaTopic: 'events',
    kafkaPartition: 0,
    kafkaOffset: '42',
    reason: 'handler_failed',
    error: 'boom',
    ...over,
  };
}

describe('claimEvent', () => {
  it('claims a new event once; the second claim is a duplicate', async () => {
    const id = `e-${uid()}`;
    await expect(inTx(db.pool, (tx) => claimEvent(tx, claimRow(id)))).resolves.toEqual({
      claimed: true,
      kind: 'new',
      redriveCount: 0,
    });
    await expect(inTx(db.pool, (tx) => claimEvent(tx, claimRow(id, { runId: 'run-2' })))).resolves.toEqual({
      claimed: false,
    });
    const row = await getProcessedEvent(db.pool, id);
    expect(row).toMatchObject({
      status: 'applied',
      runId: 'run-1',
      attempts: 1,
      kafkaTopic: 'events',
      kafkaPartition: 0,
      kafkaOffset: '42',
      eventKey: 'acct',
      deadLetteredCount: 0,
      redriveCount: 0,
    });
  });

  it('a redrive of an applied event is a duplicate too', async () => {
    const id = `e-${uid()}`;
    await inTx(db.pool, (tx) => claimEvent(tx, claimRow(id)));
    await expect(inTx(db.pool, (tx) => claimEvent(tx, claimRow(id, { redrive: true })))).resolves.toEqual({
      claimed: false,
    });
  });

  it('a redrive never claims an event the store has no record of (its row pruned)', async () => {
    const id = `e-${uid()}`;
    await expect(inTx(db.pool, (tx) => claimEvent(tx, claimRow(id, { redrive: true })))).resolves.toEqual({
      claimed: false,
      noRecord: true,
    });
    expect(await getProcessedEvent(db.pool, id)).toBeUndefined();
  });

  it('a dead-lettered event: a duplicate unless redriven, then applied once', async () => {
    const id = `e-${uid()}`;
    await markDeadLettered(db.pool, deadRow(id));
    await expect(inTx(db.pool, (tx) => claimEvent(tx, claimRow(id, { runId: 'run-2' })))).resolves.toEqual({
      claimed: false,
    });
    expect((await getProcessedEvent(db.pool, id))?.status).toBe('dead_lettered');

    await expect(
      inTx(db.pool, (tx) => claimEvent(tx, claimRow(id, { runId: 'run-3', redrive: true, attempt: 2 }))),
    ).resolves.toEqual({ claimed: true, kind: 'redriven', redriveCount: 1 });
    await expect(
      inTx(db.pool, (tx) => claimEvent(tx, claimRow(id, { runId: 'run-4', redrive: true }))),
    ).resolves.toEqual({ claimed: false });

    const row = await getProcessedEvent(db.pool, id);
    expect(row).toMatchObject({
      status: 'applied',
      runId: 'run-3',
      attempts: 2,
      deadLetteredCount: 1,
      redriveCount: 1,
      lastReason: 'handler_failed',
      lastError: 'boom',
    });
  });

  it('a rolled-back claim leaves nothing behind', async () => {
    const id = `e-${uid()}`;
    await expect(
      inTx(db.pool, async (tx) => {
        await claimEvent(tx, claimRow(id));
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    expect(await getProcessedEvent(db.pool, id)).toBeUndefined();
    await expect(inTx(db.pool, (tx) => claimEvent(tx, claimRow(id)))).resolves.toMatchObject({
      claimed: true,
    });
  });

  it.each([
    ['commits', { claimed: false }, 'commit'],
    ['rolls back', { claimed: true, kind: 'new', redriveCount: 0 }, 'rollback'],
  ] as const)(
    'a concurrent claim waits for the first transaction; when it %s the second is %j',
    async (_what, expected, end) => {
      const id = `e-${uid()}`;
      await openTransaction(db.pool, async (first, endFirst) => {
        await expect(claimEvent(first, claimRow(id))).resolves.toMatchObject({ claimed: true });
        // The second insert blocks on the uncommitted row: it cannot decide yet.
        const second = await startBlocked(
          db.pool,
          () => inTx(db.pool, (tx) => claimEvent(tx, claimRow(id, { runId: 'run-2' }))),
          'the second claim',
        );
        await endFirst(end);
        await expect(second.result).resolves.toEqual(expected);
      });
      expect((await getProcessedEvent(db.pool, id))?.runId).toBe(end === 'commit' ? 'run-1' : 'run-2');
    },
  );
});

describe('markDeadLettered', () => {
  it('inserts a dead-lettered row and counts each run once', async () => {
    const id = `e-${uid()}`;
    await expect(markDeadLettered(db.pool, deadRow(id))).resolves.toEqual({
      status: 'dead_lettered',
      deadLetteredCount: 1,
      published: null,
    });
    // The same run again (an activity retry): not counted twice.
    await expect(markDeadLettered(db.pool, deadRow(id, { error: 'boom again' }))).resolves.toMatchObject({
      deadLetteredCount: 1,
    });
    // Another run (a redrive that failed again): counted.
    await expect(
      markDeadLettered(db.pool, deadRow(id, { runId: 'run-2', reason: 'invalid_payload', error: 'bad' })),
    ).resolves.toMatchObject({ deadLetteredCount: 2 });
    expect(await getProcessedEvent(db.pool, id)).toMatchObject({
      status: 'dead_lettered',
      runId: 'run-2',
      attempts: 3,
      lastReason: 'invalid_payload',
      lastError: 'bad',
      deadLetteredCount: 2,
    });
  });

  it('a run without an id always counts', async () => {
    const id = `e-${uid()}`;
    await markDeadLettered(db.pool, deadRow(id, { runId: null }));
    await expect(markDeadLettered(db.pool, deadRow(id, { runId: null }))).resolves.toMatchObject({
      deadLetteredCount: 2,
    });
  });

  it('returns where the same run published; another run starts afresh', async () => {
    const id = `e-${uid()}`;
    await markDeadLettered(db.pool, deadRow(id));
    await expect(
      recordDeadLetterPublished(db.pool, {
        dedupKey: id,
        runId: 'run-1',
        topic: 'events.dlq',
        partition: 0,
        offset: '7',
      }),
    ).resolves.toBe(true);
    // Only the run that marked the row may record.
    await expect(
      recordDeadLetterPublished(db.pool, {
        dedupKey: id,
        runId: 'run-x',
        topic: 'events.dlq',
        partition: 0,
        offset: '8',
      }),
    ).resolves.toBe(false);

    await expect(markDeadLettered(db.pool, deadRow(id))).resolves.toEqual({
      status: 'dead_lettered',
      deadLetteredCount: 1,
      published: { topic: 'events.dlq', partition: 0, offset: '7' },
    });
    await expect(markDeadLettered(db.pool, deadRow(id, { runId: 'run-2' }))).resolves.toEqual({
      status: 'dead_lettered',
      deadLetteredCount: 2,
      published: null,
    });
  });

  it('never overwrites an applied row', async () => {
    const id = `e-${uid()}`;
    await inTx(db.pool, (tx) => claimEvent(tx, claimRow(id)));
    const before = await getProcessedEvent(db.pool, id);
    await expect(markDeadLettered(db.pool, deadRow(id, { runId: 'run-2' }))).resolves.toEqual({
      status: 'applied',
    });
    expect(await getProcessedEvent(db.pool, id)).toEqual(before);
    await expect(
      recordDeadLetterPublished(db.pool, {
        dedupKey: id,
        runId: 'run-1',
        topic: 'events.dlq',
        partition: 0,
        offset: '1',
      }),
    ).resolves.toBe(false);
  });
});

describe('outbox', () => {
  const topic = () => `outbox-${uid()}`;

  /** Marks every unpublished row published, so each test starts from an empty backlog. */
  async function drain(): Promise<void> {
    await inTx(db.pool, async (tx) => {
      const rows = await fetchUnpublishedOutbox(tx, 10_000);
      await markOutboxPublished(
        tx,
        rows.map((r) => r.seq),
      );
    });
  }

  beforeEach(drain);

  it('stores any JSON value and returns rows in seq order', async () => {
    const t = topic();
    const values: unknown[] = [{ a: 1 }, [1, 2, 3], 'text', 42, true, null, undefined];
    const ids = await inTx(db.pool, async (tx) => {
      const out: string[] = [];
      for (const [i, data] of values.entries()) {
        const { id } = await insertOutbox(tx, {
          topic: t,
          messageKey: i % 2 ? `k${i}` : null,
          type: 'thing.happened',
          source: 'idem',
          subject: i === 0 ? 'subj' : null,
          data,
          causedBy: 'event:test:1',
        });
        out.push(id);
      }
      return out;
    });
    const rows = await inTx(db.pool, (tx) => fetchUnpublishedOutbox(tx, 100));
    expect(rows.map((r) => r.id)).toEqual(ids);
    expect(rows.map((r) => r.data)).toEqual([{ a: 1 }, [1, 2, 3], 'text', 42, true, null, null]);
    expect(rows[0]).toMatchObject({ topic: t, messageKey: null, subject: 'subj', causedBy: 'event:test:1' });
    expect(rows[1]?.messageKey).toBe('k1');
    expect(rows[0]?.createdAt).toBeInstanceOf(Date);
    expect(rows.map((r) => BigInt(r.seq))).toEqual(
      rows.map((r) => BigInt(r.seq)).sort((a, b) => (a < b ? -1 : 1)),
    );
  });

  it('skips rows locked by another transaction and marks rows published once', async () => {
    const t = topic();
    await inTx(db.pool, async (tx) => {
      for (let i = 0; i < 5; i++) {
        await insertOutbox(tx, {
          topic: t,
          messageKey: null,
          type: 'x',
          source: 's',
          subject: null,
          data: i,
          causedBy: null,
        });
      }
    });
    await openTransaction(db.pool, async (holder, endHolder) => {
      const held = await fetchUnpublishedOutbox(holder, 2);
      expect(held.map((r) => r.data)).toEqual([0, 1]);

      const others = await inTx(db.pool, async (tx) => {
        const rows = await fetchUnpublishedOutbox(tx, 100);
        await expect(
          markOutboxPublished(
            tx,
            rows.map((r) => r.seq),
          ),
        ).resolves.toBe(3);
        return rows;
      });
      expect(others.map((r) => r.data)).toEqual([2, 3, 4]);
      await endHolder('rollback');
    });
    expect(await countOutbox(db.pool)).toMatchObject({ unpublished: 2 });
    const rest = await inTx(db.pool, async (tx) => {
      const rows = await fetchUnpublishedOutbox(tx, 100);
      await markOutboxPublished(
        tx,
        rows.map((r) => r.seq),
      );
      // Marking again changes nothing.
      await expect(
        markOutboxPublished(
          tx,
          rows.map((r) => r.seq),
        ),
      ).resolves.toBe(0);
      return rows;
    });
    expect(rest.map((r) => r.data)).toEqual([0, 1]);
    expect(await countOutbox(db.pool)).toMatchObject({ unpublished: 0 });
    await expect(markOutboxPublished(db.pool, [])).resolves.toBe(0);
  });
});

describe('key parking', () => {
  it('parks an event whose record holds U+0000 (an integer key, a NUL in a text value) and reads it back intact', async () => {
    // Before migration 005 the input was jsonb, which refuses "\u0000": parking failed on every retry.
    const blocker = `e-${uid()}`;
    await markDeadLettered(db.pool, deadRow(blocker));
    const ref = { topic: `t-${uid()}`, key: 'AAAAKg==' };
    expect(await parkKey(db.pool, { ...ref, partition: 0, blockedBy: blocker })).toBe(true);
    const input = {
      message: {
        key: { utf8: '\u0000\u0000\u0000*' },
        value: 'text with a \u0000 byte',
        headers: { 'x-\u0000': { utf8: '\u0000' } },
      },
    };
    const row = { ...ref, eventId: `e-${uid()}`, partition: 0, offset: '7', input };
    expect(await parkEvent(db.pool, row)).toBe(true);
    expect(await nextParkedEvent(db.pool, ref)).toEqual(row);
  });
});

describe('ledger', () => {
  it('inserts entries, moves balances, counts entries', async () => {
    const a = `acct-${uid()}`;
    const b = `acct-${uid()}`;
    const totalBefore = await countLedgerEntries(db.pool);
    const balances = await inTx(db.pool, async (tx) => {
      await insertLedgerEntry(tx, { dedupKey: `e-${uid()}`, account: a, amount: 500 });
      const first = await addToBalance(tx, a, 500);
      await insertLedgerEntry(tx, { dedupKey: `e-${uid()}`, account: a, amount: -700 });
      const second = await addToBalance(tx, a, -700);
      await insertLedgerEntry(tx, { dedupKey: `e-${uid()}`, account: b, amount: 1 });
      await addToBalance(tx, b, 1);
      return [first, second];
    });
    expect(balances).toEqual([500, -200]);
    expect(await getBalances(db.pool, [a, b])).toEqual(
      [
        { account: a, balance: -200, entries: 2 },
        { account: b, balance: 1, entries: 1 },
      ].sort((x, y) => x.account.localeCompare(y.account)),
    );
    expect(await countLedgerEntries(db.pool, { account: a })).toBe(2);
    expect(await countLedgerEntries(db.pool, { account: `none-${uid()}` })).toBe(0);
    expect(await countLedgerEntries(db.pool)).toBe(totalBefore + 3);
  });

  it('a second entry for one event fails on the primary key', async () => {
    const id = `e-${uid()}`;
    await insertLedgerEntry(db.pool, { dedupKey: id, account: 'x', amount: 1 });
    await expect(insertLedgerEntry(db.pool, { dedupKey: id, account: 'x', amount: 1 })).rejects.toThrow(
      /duplicate key/,
    );
    expect(await countLedgerEntries(db.pool, { dedupKey: id })).toBe(1);
  });

  it('records an entry and its balance in one statement; a second one for the event changes nothing', async () => {
    const a = `acct-${uid()}`;
    const id = `e-${uid()}`;
    const balances = await inTx(db.pool, async (tx) => [
      await recordLedgerEntry(tx, { dedupKey: id, account: a, amount: 500 }),
      await recordLedgerEntry(tx, { dedupKey: `e-${uid()}`, account: a, amount: -700 }),
    ]);
    expect(balances).toEqual([500, -200]);
    await expect(recordLedgerEntry(db.pool, { dedupKey: id, account: a, amount: 500 })).rejects.toThrow(
      /duplicate key/,
    );
    expect(await getBalances(db.pool, [a])).toEqual([{ account: a, balance: -200, entries: 2 }]);
    expect(await countLedgerEntries(db.pool, { account: a })).toBe(2);
  });
});
