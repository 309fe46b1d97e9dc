/**
 * Fault scenario (issue 9): the Temporal server killed with SIGKILL under two consumers and started
 * again 15 s later on the same database file (a frontend and history crash): workflow starts,
 * polls and task completions fail meanwhile. No consumer may die of it, and no event is lost.
 */
import { temporalPid } from '../../src/stack/temporal';
import { faultScenario, killStackServer, restartStack } from './support';

faultScenario({
  name: 'temporal-restart',
  title: 'the Temporal server killed -9 under two consumers and restarted 15 s later',
  cleanup: restartStack,
  fault: async ({ a, b }) => ({
    what: await killStackServer('Temporal', temporalPid, [a, b]),
    running: [a, b],
  }),
});
