/**
 * Fault scenario (issue 9): PostgreSQL stopped with `pg_ctl stop -m immediate` (what a crash or a
 * failover does to open connections) under two `idem consume` processes on a keyed backlog; one
 * of them leaves during the outage (a rebalance with the store down) and a third starts while it
 * is down. Checked afterwards: no process died, every unique event applied exactly once, each
 * key's events in offset order, nothing dead-lettered, offsets committed to the end, no workflow
 * left running.
 *
 * Size: IDEM_FAULT_EVENTS (600 in `npm test`, 3,000 with `npm run test:faults`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { layoutFor } from '../../src/stack/layout';
import { stopPostgres } from '../../src/stack/postgres';
import { stackUp } from '../../src/stack/stack';
import { allCommitted, ceRecord, createPipeline, type Pipeline } from '../support/pipeline';
import { readAll } from '../support/kafka';
import { eventually } from '../support/poll';

const REPO = path.resolve(__dirname, '..', '..');
const EVENTS = Number(process.env.IDEM_FAULT_EVENTS ?? 600);
const ACCOUNTS = 50;
/** Every tenth event is produced twice (a producer retry). */
const DUPLICATE_EVERY = 10;

let p: Pipeline;
const children: { name: string; child: ChildProcess; logs: () => string }[] = [];
const stackConfig = loadConfig();

beforeAll(async () => {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
  p = await createPipeline('faults-pg');
}, 120_000);

afterAll(async () => {
  // Whatever happened, PostgreSQL runs again for the tests after this one.
  await stackUp({ config: stackConfig }).catch(() => undefined);
  for (const c of children)
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
  await p?.close();
}, 300_000);

/** Each consumer's output, kept in a file to read after a failure. */
const LOG_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-faults-'));

function consume(name: string) {
  const file = path.join(LOG_DIR, `${name}.log`);
  const out = fs.openSync(file, 'w');
  const child = spawn(
    process.execPath,
    [path.join(REPO, 'bin', 'idem.js'), 'consume', '--handlers', path.join(REPO, 'examples', 'ledger')],
    { env: { ...process.env, ...p.env, IDEM_LOG_LEVEL: 'info' }, stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  const c = { name, child, logs: () => fs.readFileSync(file, 'utf8') };
  children.push(c);
  return c;
}

const alive = (c: { child: ChildProcess }) => c.child.exitCode === null && c.child.signalCode === null;
const exited = (c: { child: ChildProcess }) =>
  new Promise<number | null>((r) =>
    c.child.exitCode !== null ? r(c.child.exitCode) : c.child.on('exit', r),
  );

async function count(sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await p.db.pool.query<{ n: string }>(sql, values);
  return Number(rows[0]?.n ?? 0);
}

test(`PostgreSQL stopped -m immediate under two consumers, one leaving and one starting meanwhile: ${EVENTS} events, none lost, none twice, in key order`, async () => {
  const expected: Record<string, number> = {};
  const messages = [];
  for (let i = 0; i < EVENTS; i++) {
    const account = `fault-${i % ACCOUNTS}`;
    const amount = 1 + ((i * 7919) % 500);
    expected[account] = (expected[account] ?? 0) + amount;
    const m = ceRecord(
      p.source,
      { id: `e-${String(i).padStart(6, '0')}`, type: 'account.credited', data: { account, amount } },
      account,
    );
    messages.push(m);
    if (i % DUPLICATE_EVERY === 0) messages.push(m);
  }
  for (let i = 0; i < messages.length; i += 500)
    await p.producer.send({ topic: p.topic, messages: messages.slice(i, i + 500) });

  const a = consume('A');
  const b = consume('B');
  await eventually(
    async () => (await count('select count(*) n from ledger_entries')) >= EVENTS / 5,
    180_000,
    'a fifth applied',
  );

  const layout = layoutFor(stackConfig.cacheDir);
  await stopPostgres(layout, 'immediate');
  const downAt = Date.now();
  // B leaves during the outage (A takes its partitions while the store is down); C starts while it is down.
  b.child.kill('SIGTERM');
  const c = consume('C');
  await eventually(
    () => c.logs().includes('PostgreSQL is not reachable'),
    60_000,
    'C waiting for PostgreSQL',
  );
  await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - downAt))));
  expect(alive(a)).toBe(true);
  expect(alive(c)).toBe(true);
  await stackUp({ config: stackConfig });
  const outageSeconds = Math.round((Date.now() - downAt) / 1000);

  await eventually(
    async () => (await count('select count(*) n from ledger_entries')) >= EVENTS,
    600_000,
    'every event applied',
  );
  await allCommitted(p, p.config.kafka.groupId, 300_000);

  // Exactly once: one dedup row and one ledger entry per unique event, balances as produced.
  expect(await count("select count(*) n from processed_events where status = 'applied'")).toBe(EVENTS);
  expect(await count('select count(*) n from processed_events')).toBe(EVENTS);
  expect(await count('select count(*) n from ledger_entries')).toBe(EVENTS);
  const { rows: balances } = await p.db.pool.query<{ account: string; balance: string }>(
    'select account, balance from account_balances',
  );
  expect(Object.fromEntries(balances.map((r) => [r.account, Number(r.balance)]))).toEqual(expected);
  // Per-key order: each key's entries were committed in offset (= id) order.
  const { rows: order } = await p.db.pool.query<{ account: string; ids: string[] }>(
    `select account, array_agg(event_id order by created_at, event_id) ids from ledger_entries group by account`,
  );
  for (const { ids } of order) expect(ids).toEqual([...ids].sort());
  // Nothing dead-lettered, nothing left running.
  expect(await readAll(p.kafka, p.dlqTopic)).toHaveLength(0);
  await eventually(
    async () => {
      let running = 0;
      for await (const _ of p.temporal.workflow.list({
        query: `IdemSource = "${p.source}" AND ExecutionStatus = "Running"`,
      }))
        running++;
      return running === 0;
    },
    120_000,
    'no workflow left running',
  );

  // No process died because PostgreSQL did; each stops cleanly (logs in LOG_DIR).
  process.stderr.write(`\nconsumer logs: ${LOG_DIR}\n`);
  expect(await exited(b)).toBe(0);
  expect(alive(a)).toBe(true);
  expect(alive(c)).toBe(true);
  a.child.kill('SIGTERM');
  c.child.kill('SIGTERM');
  expect(await exited(a)).toBe(0);
  expect(await exited(c)).toBe(0);
  for (const x of [a, b, c]) expect(x.logs()).not.toMatch(/Unhandled 'error' event|uncaughtException/);

  process.stderr.write(
    `\nfault pg-outage: ${messages.length} records, ${EVENTS} unique, ${messages.length - EVENTS} duplicates produced; ` +
      `PostgreSQL down ${outageSeconds} s; applied ${EVENTS}, lost 0, double 0; consumers alive throughout\n`,
  );
}, 1_200_000);
