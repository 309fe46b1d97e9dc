/**
 * Fault scenario (issue 9): one of two `idem consume` processes frozen with SIGSTOP past the
 * consumer group's session timeout (30 s), so the group gives its partitions to the other, then
 * resumed with SIGCONT: a zombie whose in-flight work (started workflows, pending settlements,
 * uncommitted offsets) belongs to a generation that is gone. Checked afterwards: the checks of
 * support.ts, and both processes alive.
 */
import type { Pipeline } from '../support/pipeline';
import { eventually } from '../support/poll';
import { faultScenario, sleep, type Consumer } from './support';

/** Transactions of consumer `c`'s sessions that have written (an attempt past its claim). */
async function openTransactions(p: Pipeline, c: Consumer): Promise<number> {
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
async function freezeInTransaction(p: Pipeline, c: Consumer): Promise<void> {
  for (const started = Date.now(); Date.now() - started < 120_000;) {
    if ((await openTransactions(p, c)) > 0) {
      c.child.kill('SIGSTOP');
      await sleep(100);
      if ((await openTransactions(p, c)) > 0) return;
      c.child.kill('SIGCONT');
    }
    await sleep(5);
  }
  throw new Error(`${c.name} never seen inside a transaction`);
}

// A local activity running in the frozen worker holds its event's claim in an open transaction
// until the worker resumes or PostgreSQL ends the idle transaction (after an attempt's length);
// meanwhile its workflow moves to the other worker, whose attempts wait on the claim. Before
// ClaimHeldError those attempts timed out on the lock one after another and a healthy event was
// dead-lettered as handler_failed (seen 2026-11-24: 600 events, B frozen 40 s, one event
// dead-lettered after 3 attempts, 10 events parked behind it).
faultScenario({
  name: 'sigstop',
  title: 'a consumer frozen with SIGSTOP inside a transaction past the session timeout, then resumed',
  async fault({ p, a, b }) {
    const joins = () => a.logs().split('joined consumer group').length;
    const joinsBefore = joins();
    await freezeInTransaction(p, b);
    const frozenAt = Date.now();
    // The group evicts B after the 30 s session timeout and A takes its partitions.
    await eventually(() => joins() > joinsBefore, 120_000, 'A rejoined without B');
    await sleep(Math.max(0, 40_000 - (Date.now() - frozenAt)));
    b.child.kill('SIGCONT');
    const seconds = Math.round((Date.now() - frozenAt) / 1000);
    return { what: `consumer B frozen ${seconds} s inside a transaction`, running: [a, b] };
  },
});
