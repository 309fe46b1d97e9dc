/**
 * Fault scenario (issue 9): PostgreSQL stopped with `pg_ctl stop -m immediate` (what a crash or a
 * failover does to open connections) under two `idem consume` processes on a keyed backlog; one
 * of them leaves during the outage (a rebalance with the store down) and a third starts while it
 * is down. Checked afterwards: no process died, and the checks of support.ts.
 */
import { loadConfig } from '../../src/config';
import { layoutFor } from '../../src/stack/layout';
import { stopPostgres } from '../../src/stack/postgres';
import { stackUp } from '../../src/stack/stack';
import { eventually } from '../support/poll';
import { alive, faultScenario, restartStack, sleep } from './support';

const stackConfig = loadConfig();

faultScenario({
  name: 'pg-outage',
  title: 'PostgreSQL stopped -m immediate under two consumers, one leaving and one starting meanwhile',
  cleanup: restartStack,
  async fault({ procs, a, b }) {
    await stopPostgres(layoutFor(stackConfig.cacheDir), 'immediate');
    const downAt = Date.now();
    // B leaves during the outage (A takes its partitions while the store is down); C starts while it is down.
    b.child.kill('SIGTERM');
    const c = procs.start('C');
    await eventually(
      () => c.logs().includes('PostgreSQL is not reachable'),
      60_000,
      'C waiting for PostgreSQL',
    );
    await sleep(Math.max(0, 20_000 - (Date.now() - downAt)));
    expect(alive(a)).toBe(true);
    expect(alive(c)).toBe(true);
    await stackUp({ config: stackConfig });
    const seconds = Math.round((Date.now() - downAt) / 1000);
    return {
      what: `PostgreSQL down ${seconds} s, B left and C started meanwhile`,
      running: [a, c],
      stopped: [b],
    };
  },
});
