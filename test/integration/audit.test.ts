/**
 * `idem audit` on the real stack: a pipeline applies valid events, duplicates of three kinds, a
 * malformed record, an unknown type and an event parked behind it; the audit accounts for every
 * offset. Then things are broken on purpose (a processed_events row deleted, a balance moved as a
 * second application would) and the audit reports them, the real CLI from dist/ exiting 1.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import * as ledgerExample from '../../examples/ledger';
import { auditTopics, type AuditReport } from '../../src/audit';
import { workflowIdFor } from '../../src/events/identity';
import { readAll } from '../support/kafka';
import { allCommitted, ceRecord, createPipeline, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'idem.js');

let p: Pipeline;

beforeAll(async () => {
  p = await createPipeline('audit');
  await p.start();
}, 120_000);

afterAll(async () => {
  await p?.close();
});

/** The real CLI, as an operator runs it, with the pipeline's environment. */
function idemAudit(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'audit', ...args], {
    cwd: REPO,
    env: { ...process.env, ...p.env },
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const audit = (opts: { since?: Date } = {}): Promise<AuditReport> =>
  auditTopics({
    config: p.config,
    kafka: p.kafka,
    pool: p.db.pool,
    temporal: p.temporal,
    handlers: { name: 'examples/ledger', audit: ledgerExample.audit },
    ...opts,
  });

const count = async (sql: string, params: unknown[] = []) =>
  Number((await p.db.pool.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);

test('every offset accounted for; a deleted dedup row and a doubled balance are found', async () => {
  const run = crypto.randomBytes(3).toString('hex');
  const acct = (k: number) => `audit-${run}-${k}`;
  const event = (i: number, amount = 10 + i) =>
    ceRecord(
      p.source,
      { id: `e-${i}`, type: 'account.credited', data: { account: acct(i % 4), amount } },
      acct(i % 4),
    );
  const sentAt = Date.now() - 120_000;
  const at =
    (ms: number) =>
    <R extends object>(r: R) => ({ ...r, timestamp: String(ms) });
  const first = at(sentAt);
  const unknown = { id: `u-${run}`, type: 'account.closed', data: { account: 'x' } };
  await p.producer.send({
    topic: p.topic,
    messages: [
      ...Array.from({ length: 12 }, (_, i) => first(event(i))),
      // one send delivered twice: the same bytes, the same timestamp
      first(event(0)),
      first(event(4)),
      first({ key: 'bad', value: 'this is not json' }),
      // dead-lettered (no handler), and an event of its key parked behind it
      first(ceRecord(p.source, unknown, `parked-${run}`)),
      first(
        ceRecord(
          p.source,
          { id: `p-${run}`, type: 'account.credited', data: { account: acct(9), amount: 1 } },
          `parked-${run}`,
        ),
      ),
    ],
  });
  const later = at(sentAt + 60_000);
  // sent again a minute later; and another record claiming the identity of e-9
  await p.producer.send({ topic: p.topic, messages: [later(event(8)), later(event(9, 999))] });
  await allCommitted(p);
  await eventually(
    async () => (await count('select count(*) n from ledger_entries')) === 12,
    60_000,
    '12 entries',
  );
  await eventually(
    async () => (await readAll(p.kafka, p.dlqTopic)).length === 2,
    60_000,
    '2 dead-letter records',
  );
  await eventually(
    async () => (await count('select count(*) n from parked_events')) === 1,
    60_000,
    '1 parked',
  );

  const clean = await audit();
  expect(clean.total).toEqual({
    records: 19,
    applied: 12,
    duplicate: 4,
    dead_lettered: 2,
    parked: 1,
    in_progress: 0,
    not_yet_consumed: 0,
    unaccounted: 0,
    doubleEffects: 0,
  });
  expect(clean.duplicateCauses).toEqual({ producer_retry: 2, sent_again: 1, other_content: 1, not_read: 0 });
  expect(clean.ok).toBe(true);
  expect(clean.handlerChecks).toBe('examples/ledger (checkEvents, checkTables)');
  expect(clean.partitions.map((x) => x.partition)).toEqual([0, 1, 2]);
  for (const part of clean.partitions) expect(part.end).toBe(part.high);

  // --since: only the records sent a minute later, whose originals are outside the range.
  const recent = await audit({ since: new Date(sentAt + 30_000) });
  expect(recent.total).toMatchObject({ records: 2, duplicate: 2, unaccounted: 0 });
  expect(recent.duplicateCauses.not_read).toBe(2);

  // The real CLI agrees, and exits 0.
  const ok = idemAudit('--handlers', 'examples/ledger', '--json');
  expect({ status: ok.status, stderr: ok.status === 0 ? '' : ok.stderr }).toEqual({ status: 0, stderr: '' });
  expect((JSON.parse(ok.stdout) as AuditReport).total).toEqual(clean.total);

  // Broken on purpose: e-4's dedup row is gone (its effect stays), so neither of its two offsets
  // has an outcome, and its ledger entry stands for an event not applied.
  const e4 = workflowIdFor(p.source, 'e-4');
  await p.db.pool.query('delete from processed_events where event_id = $1', [e4]);
  const broken = idemAudit('--handlers', 'examples/ledger');
  expect(broken.status).toBe(1);
  expect(broken.stdout).toContain(
    `${e4}  no processed_events row, workflow COMPLETED, not parked, no dead-letter record`,
  );
  expect(broken.stdout).toContain('examples/ledger: ledger_entry_without_applied_event');
  expect(broken.stdout).toMatch(/FAILED: 2 unaccounted offset\(s\), 1 double effect\(s\)$/m);
  expect(broken.stderr).toMatch(/idem audit: \d+ of 19 records read/);

  // An effect applied twice, as a second run would have left it: the balance moved again.
  await p.db.pool.query(
    'update account_balances set balance = balance + 11, entries = entries + 1 where account = $1',
    [acct(1)],
  );
  const doubled = await audit();
  expect(doubled.ok).toBe(false);
  expect(doubled.violations.map((v) => v.check).sort()).toEqual([
    'balance_mismatch',
    'ledger_entry_without_applied_event',
  ]);
  expect(doubled.violations.find((v) => v.check === 'balance_mismatch')?.detail).toContain(acct(1));
}, 300_000);

test('the CLI exits 2 with the fix when it cannot run', () => {
  const usage = idemAudit('--limit', 'many');
  expect(usage.status).toBe(2);
  expect(usage.stderr).toContain('--limit many: expected a whole number');
  const missing = idemAudit('--topic', `no-such-topic-${crypto.randomBytes(3).toString('hex')}`);
  expect(missing.status).toBe(2);
  expect(missing.stderr).toContain('kafka-topics.sh');
}, 120_000);
