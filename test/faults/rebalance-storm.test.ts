/**
 * Fault scenario (issue 9): a rebalance storm. Around consumers A and B, others join and leave
 * (SIGTERM, a graceful stop) every few seconds, so the group has two to four members and
 * partitions move again and again while events are in flight.
 */
import { allRunning, faultScenario, sleep, type Consumer } from './support';

faultScenario({
  name: 'rebalance-storm',
  title: 'a rebalance storm: consumers joining and leaving every 3 s, two to four in the group',
  async fault({ procs, a, b }) {
    const stopped: Consumer[] = [];
    const leave = (c: Consumer) => {
      c.child.kill('SIGTERM');
      stopped.push(c);
    };
    let changes = 0;
    const step = async (f: () => void) => {
      f();
      changes++;
      await sleep(3_000);
    };
    let c!: Consumer;
    let d!: Consumer;
    let e!: Consumer;
    await step(() => (c = procs.start('C')));
    await step(() => (d = procs.start('D')));
    await step(() => leave(c));
    await step(() => (e = procs.start('E')));
    await step(() => leave(b));
    await step(() => leave(d));
    const f = procs.start('F');
    changes++;
    await allRunning([a, e, f]);
    return {
      what: `${changes} membership changes in ${changes * 3} s (2 to 4 consumers)`,
      running: [a, e, f],
      stopped,
    };
  },
});
