/**
 * Fault scenario (issue 9): the Temporal server killed with SIGKILL under two consumers and started
 * again 15 s later on the same database file (a frontend and history crash): workflow starts,
 * polls and task completions fail meanwhile. No consumer may die of it, and no event is lost.
 */
import { loadConfig } from '../../src/config';
import { layoutFor } from '../../src/stack/layout';
import { isAlive } from '../../src/stack/proc';
import { stackUp } from '../../src/stack/stack';
import { temporalPid } from '../../src/stack/temporal';
import { eventually } from '../support/poll';
import { alive, faultScenario, sleep } from './support';

const stackConfig = loadConfig();
const DOWN_MS = 15_000;

faultScenario({
  name: 'temporal-restart',
  title: 'the Temporal server killed -9 under two consumers and restarted 15 s later',
  cleanup: () => stackUp({ config: stackConfig }).then(() => undefined),
  async fault({ a, b }) {
    const pid = temporalPid(layoutFor(stackConfig.cacheDir));
    if (pid === undefined)
      throw new Error('the stack runs no Temporal server of its own to kill (TEMPORAL_ADDRESS elsewhere?)');
    process.kill(pid, 'SIGKILL');
    await eventually(() => !isAlive(pid), 30_000, 'Temporal gone');
    const downAt = Date.now();
    await sleep(DOWN_MS);
    expect([alive(a), alive(b)]).toEqual([true, true]);
    await stackUp({ config: stackConfig });
    const seconds = Math.round((Date.now() - downAt) / 1000);
    return { what: `Temporal killed -9, down ${seconds} s`, running: [a, b] };
  },
});
