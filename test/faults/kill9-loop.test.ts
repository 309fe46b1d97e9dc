/**
 * Fault scenario (issue 9): consumers killed with SIGKILL in a loop, each replaced at once by a new
 * process (what an OOM kill or a node loss does, again and again): attempts die mid-transaction,
 * workflows lose their worker, offsets are left uncommitted, the group rebalances each time.
 */
import { allRunning, exited, faultScenario, sleep, type Consumer } from './support';

const KILLS = 6;

faultScenario({
  name: 'kill9-loop',
  title: `consumers killed -9 and replaced ${KILLS} times, 4 s apart`,
  async fault({ procs, a, b }) {
    const live: Consumer[] = [a, b];
    for (let i = 0; i < KILLS; i++) {
      await sleep(4_000);
      const slot = i % 2;
      const victim = live[slot]!;
      victim.child.kill('SIGKILL');
      await exited(victim);
      live[slot] = procs.start(`${'AB'[slot]}${Math.floor(i / 2) + 1}`);
    }
    await allRunning(live);
    return { what: `${KILLS} consumers killed -9 mid-stream, each replaced at once`, running: live };
  },
});
