/**
 * What the fault scenarios share: a keyed ledger backlog with duplicates, real `idem consume`
 * processes (their output in files, to read after a failure), and the checks every scenario ends
 * with.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { audit as ledgerAudit } from '../../examples/ledger';
import { loadConfig } from '../../src/config';
import { layoutFor, type Layout } from '../../src/stack/layout';
import { isAlive } from '../../src/stack/proc';
import { stackUp } from '../../src/stack/stack';
import { auditTopics } from '../../src/audit';
import { allCommitted, ceRecord, createPipeline, type Pipeline } from '../support/pipeline';
import { readAll } from '../support/kafka';
import { eventually } from '../support/poll';

const REPO = path.resolve(__dirname, '..', '..');

/** IDEM_FAULT_EVENTS: 600 in `npm test`, 3,000 with `npm run test:faults`. */
export const EVENTS = Number(process.env.IDEM_FAULT_EVENTS ?? 600);
const ACCOUNTS = 50;
/** Every tenth event is produced twice (a producer retry). */
const DUPLICATE_EVERY = 10;

export function requireBuild(): void {
  if (!fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
}

/** Produces the backlog; returns how many records and the balances it should leave. */
export async function produceBacklog(
  p: Pipeline,
): Promise<{ records: number; expected: Record<string, number> }> {
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
  return { records: messages.length, expected };
}

export interface Consumer {
  name: string;
  child: ChildProcess;
  logs: () => string;
}

/** Starts and stops real consumers; `logDir` keeps their output. */
export type Consumers = ReturnType<typeof consumers>;

export function consumers(p: () => Pipeline) {
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'idem-faults-'));
  const all: Consumer[] = [];
  return {
    logDir,
    all: (): readonly Consumer[] => all,
    start(name: string, env: Record<string, string> = {}): Consumer {
      const file = path.join(logDir, `${name}.log`);
      const out = fs.openSync(file, 'w');
      const child = spawn(
        process.execPath,
        [path.join(REPO, 'bin', 'idem.js'), 'consume', '--handlers', path.join(REPO, 'examples', 'ledger')],
        {
          // PGAPPNAME names the consumer's PostgreSQL sessions (pg_stat_activity.application_name).
          env: { ...process.env, ...p().env, IDEM_LOG_LEVEL: 'info', PGAPPNAME: `idem-${name}`, ...env },
          stdio: ['ignore', out, out],
        },
      );
      fs.closeSync(out);
      const c = { name, child, logs: () => fs.readFileSync(file, 'utf8') };
      all.push(c);
      return c;
    },
    killAll(): void {
      for (const c of all) if (alive(c)) c.child.kill('SIGKILL');
    },
  };
}

/** Until each consumer has started all its roles (its group joined), so the fault meets them at work. */
export async function allRunning(list: Consumer[]): Promise<void> {
  for (const c of list)
    await eventually(() => c.logs().includes('"msg":"idem running"'), 180_000, `${c.name} running`);
}

export const alive = (c: Consumer) => c.child.exitCode === null && c.child.signalCode === null;

export const exited = (c: Consumer) =>
  new Promise<number | null>((r) =>
    c.child.exitCode !== null ? r(c.child.exitCode) : c.child.on('exit', r),
  );

export async function count(p: Pipeline, sql: string): Promise<number> {
  const { rows } = await p.db.pool.query<{ n: string }>(sql);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Every scenario's end: every unique event applied exactly once (one dedup row, one ledger entry,
 * balances as produced), each key's entries committed in offset order, nothing dead-lettered,
 * offsets committed to the end, no workflow left running.
 */
export async function expectExactlyOnce(p: Pipeline, expected: Record<string, number>): Promise<void> {
  // A dead-lettered event never becomes an entry: stop waiting then, and let the checks say so.
  await eventually(
    async () =>
      (await count(p, 'select count(*) n from ledger_entries')) >= EVENTS ||
      (await count(p, "select count(*) n from processed_events where status = 'dead_lettered'")) > 0,
    600_000,
    'every event applied',
  );
  expect(await count(p, "select count(*) n from processed_events where status = 'dead_lettered'")).toBe(0);
  await allCommitted(p, p.config.kafka.groupId, 300_000);
  expect(await count(p, "select count(*) n from processed_events where status = 'applied'")).toBe(EVENTS);
  expect(await count(p, 'select count(*) n from processed_events')).toBe(EVENTS);
  expect(await count(p, 'select count(*) n from ledger_entries')).toBe(EVENTS);
  const { rows: balances } = await p.db.pool.query<{ account: string; balance: string }>(
    'select account, balance from account_balances',
  );
  expect(Object.fromEntries(balances.map((r) => [r.account, Number(r.balance)]))).toEqual(expected);
  const { rows: order } = await p.db.pool.query<{ ids: string[] }>(
    `select array_agg(event_id order by created_at, event_id) ids from ledger_entries group by account`,
  );
  for (const { ids } of order) expect(ids).toEqual([...ids].sort());
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
}

/** Each consumer stops cleanly on SIGTERM (exit 0) and never reported an unhandled error. */
export async function expectCleanStops(list: Consumer[]): Promise<void> {
  for (const c of list) if (alive(c)) c.child.kill('SIGTERM');
  for (const c of list) expect(await exited(c)).toBe(0);
  for (const c of list) expect(c.logs()).not.toMatch(/Unhandled 'error' event|uncaughtException/);
}

/**
 * Every scenario's opening: consumers A and B running, then the backlog produced, until a fifth of
 * it is applied, so the fault meets both at work.
 */
export async function twoConsumersAtWork(p: Pipeline, procs: Consumers) {
  const a = procs.start('A');
  const b = procs.start('B');
  await allRunning([a, b]);
  const backlog = await produceBacklog(p);
  await eventually(
    async () => (await count(p, 'select count(*) n from ledger_entries')) >= EVENTS / 5,
    180_000,
    'a fifth applied',
  );
  return { a, b, ...backlog };
}

/** Duplicates caught, by layer, summed over what each consumer logged when it stopped ("idem
 * stopped"); a consumer killed with -9 logs nothing, so this is a lower bound then. */
export function duplicatesByLayer(list: readonly Consumer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of list)
    for (const line of c.logs().split('\n')) {
      if (!line.includes('"msg":"idem stopped"')) continue;
      const totals = (JSON.parse(line) as { totals?: { duplicates?: Record<string, number> } }).totals;
      for (const [layer, n] of Object.entries(totals?.duplicates ?? {})) out[layer] = (out[layer] ?? 0) + n;
    }
  return out;
}

export interface AtWork {
  p: Pipeline;
  procs: Consumers;
  a: Consumer;
  b: Consumer;
  records: number;
  expected: Record<string, number>;
}

export interface FaultDone {
  /** The fault as the figures line tells it ("Kafka killed -9, down 15 s"). */
  what: string;
  /** Consumers that must still run, and stop cleanly on SIGTERM. */
  running: Consumer[];
  /** Consumers the scenario stopped with SIGTERM: each must have exited 0. */
  stopped?: Consumer[];
}

/**
 * One fault scenario, as each file under test/faults/ runs it: its own pipeline, consumers A and B
 * at work on the keyed backlog, the fault, then the checks (exactly once, in key order, nothing left
 * running; every consumer meant to run alive and stopping cleanly) and one line of figures on stderr
 * (docs/reliability.md collects them).
 */
export function faultScenario(o: {
  name: string;
  title: string;
  fault: (w: AtWork) => Promise<FaultDone>;
  /** Undoes the fault whatever happened (servers up again, rules removed), for the tests after. */
  cleanup?: () => Promise<void>;
}): void {
  let p: Pipeline;
  const procs = consumers(() => p);
  beforeAll(async () => {
    requireBuild();
    p = await createPipeline(`faults-${o.name}`);
  }, 120_000);
  afterAll(async () => {
    await o.cleanup?.().catch(() => undefined);
    procs.killAll();
    await p?.close();
  }, 300_000);
  test(`${o.title}: ${EVENTS} events, none lost, none twice, in key order`, async () => {
    const w = await twoConsumersAtWork(p, procs);
    const done = await o.fault({ p, procs, ...w });
    process.stderr.write(`\nconsumer logs: ${procs.logDir}\n`);
    await expectExactlyOnce(p, w.expected);
    for (const c of done.running)
      expect({ consumer: c.name, alive: alive(c) }).toEqual({ consumer: c.name, alive: true });
    for (const c of done.stopped ?? [])
      expect({ consumer: c.name, exit: await exited(c) }).toEqual({ consumer: c.name, exit: 0 });
    await expectCleanStops(done.running);
    // idem audit, as an operator runs it: every offset of the topic accounted for, no effect twice.
    const audit = await auditTopics({
      config: p.config,
      kafka: p.kafka,
      pool: p.db.pool,
      temporal: p.temporal,
      handlers: { name: 'examples/ledger', audit: ledgerAudit },
    });
    expect({ ok: audit.ok, unaccounted: audit.unaccounted, violations: audit.violations }).toEqual({
      ok: true,
      unaccounted: [],
      violations: [],
    });
    expect(audit.total.records).toBe(w.records);
    const dup = Object.entries(duplicatesByLayer(procs.all()))
      .map(([layer, n]) => `${layer} ${n}`)
      .join(', ');
    process.stderr.write(
      `\nfault ${o.name}: ${w.records} records, ${EVENTS} unique, ${w.records - EVENTS} duplicates produced; ` +
        `${done.what}; applied ${EVENTS}, lost 0, double 0; duplicates caught by layer: ${dup || 'none logged'}; ` +
        `idem audit: ${audit.total.records} offsets, ${audit.total.applied} applied, ${audit.total.duplicate} duplicates, ` +
        `0 unaccounted, 0 double effects\n`,
    );
  }, 1_200_000);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A server of the local stack killed with SIGKILL and started again `downMs` later (`idem stack up`),
 * both consumers checked alive meanwhile: the crash of a broker or a Temporal server.
 */
export async function killStackServer(
  what: string,
  pidOf: (layout: Layout) => number | undefined,
  consumersAlive: Consumer[],
  downMs = 15_000,
): Promise<string> {
  const stackConfig = loadConfig();
  const pid = pidOf(layoutFor(stackConfig.cacheDir));
  if (pid === undefined)
    throw new Error(`the stack runs no ${what} of its own to kill (configured elsewhere?)`);
  process.kill(pid, 'SIGKILL');
  await eventually(() => !isAlive(pid), 30_000, `${what} gone`);
  const downAt = Date.now();
  await sleep(downMs);
  expect(consumersAlive.map(alive)).toEqual(consumersAlive.map(() => true));
  await stackUp({ config: stackConfig });
  return `${what} killed -9, down ${Math.round((Date.now() - downAt) / 1000)} s`;
}

/** Whatever a scenario did to the stack, it runs again for the tests after it. */
export const restartStack = () => stackUp({ config: loadConfig() }).then(() => undefined);
