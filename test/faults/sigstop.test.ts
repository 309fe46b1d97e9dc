/**
 * Fault scenario (issue 9): one of two `idem consume` processes frozen with SIGSTOP past the
 * consumer group's session timeout (30 s), so the group gives its partitions to the other, then
 * resumed with SIGCONT: a zombie whose in-flight work (started workflows, pending settlements,
 * uncommitted offsets) belongs to a generation that is gone. Checked afterwards: the checks of
 * support.ts, and both processes alive.
 */
import { createPipeline, type Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';
import {
  alive,
  consumers,
  type Consumer,
  EVENTS,
  expectCleanStops,
  expectExactlyOnce,
  requireBuild,
  twoConsumersAtWork,
} from './support';

let p: Pipeline;
const procs = consumers(() => p);

/** Transactions of consumer `c`'s sessions that have written (an attempt past its claim). */
async function openTransactions(c: Consumer): Promise<number> {
  const { rows } = await p.db.pool.query<{ n: string }>(
    `select count(*) n from pg_stat_activity
      where application_name = $1 and backend_xid is not null and datname = current_database()`,
    [`idem-${c.name}`],
  );
  return Number(rows[0]?.n ?? 0);
}

/**
 * SIGSTOP while the consumer is inside an attempt's transaction (the fault worth testing: its
 * locks stay held while it is frozen). Seen from outside, a transaction may end between the look
 * and the signal: frozen without one, the consumer is resumed and the look starts again.
 */
async function freezeInTransaction(c: Consumer): Promise<void> {
  for (const started = Date.now(); Date.now() - started < 120_000;) {
    if ((await openTransactions(c)) > 0) {
      c.child.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 100));
      if ((await openTransactions(c)) > 0) return;
      c.child.kill('SIGCONT');
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`${c.name} never seen inside a transaction`);
}

beforeAll(async () => {
  requireBuild();
  p = await createPipeline('faults-stop');
}, 120_000);

afterAll(async () => {
  procs.killAll();
  await p?.close();
}, 300_000);

// A local activity running in the frozen worker holds its event's claim in an open transaction
// until the worker resumes or PostgreSQL ends the idle transaction (after an attempt's length);
// meanwhile its workflow moves to the other worker, whose attempts wait on the claim. Before
// ClaimHeldError those attempts timed out on the lock one after another and a healthy event was
// dead-lettered as handler_failed (seen 2026-11-24: 600 events, B frozen 40 s, one event
// dead-lettered after 3 attempts, 10 events parked behind it).
test(`a consumer frozen with SIGSTOP past the session timeout, then resumed: ${EVENTS} events, none lost, none twice, in key order`, async () => {
  const { a, b, records, expected } = await twoConsumersAtWork(p, procs);

  const joins = () => a.logs().split('joined consumer group').length;
  const joinsBefore = joins();
  await freezeInTransaction(b);
  const frozenAt = Date.now();
  expect(await openTransactions(b)).toBeGreaterThan(0);
  // The group evicts B after the 30 s session timeout and A takes its partitions.
  await eventually(() => joins() > joinsBefore, 120_000, 'A rejoined without B');
  await new Promise((r) => setTimeout(r, Math.max(0, 40_000 - (Date.now() - frozenAt))));
  b.child.kill('SIGCONT');
  const frozenSeconds = Math.round((Date.now() - frozenAt) / 1000);

  await expectExactlyOnce(p, expected);
  process.stderr.write(`\nconsumer logs: ${procs.logDir}\n`);
  expect(alive(a)).toBe(true);
  expect(alive(b)).toBe(true);
  await expectCleanStops([a, b]);
  process.stderr.write(
    `\nfault sigstop: ${records} records, ${EVENTS} unique; consumer B frozen ${frozenSeconds} s; ` +
      `applied ${EVENTS}, lost 0, double 0; both consumers alive\n`,
  );
}, 1_200_000);
