/**
 * Fault scenario (issue 9): PostgreSQL unreachable by dropped packets (not refused) for longer than
 * an attempt's timeout, under two consumers: connections stay open and get no answer, new ones get
 * no handshake. Attempts must end as a store outage (the pool's own timeouts), not time out as the
 * handler's failure; nothing is dead-lettered, no consumer dies.
 */
import { PORTS } from '../../src/stack/layout';
import { dropPackets } from '../support/blackhole';
import { alive, faultScenario, sleep } from './support';

const DROP_MS = 45_000; // longer than IDEM_ATTEMPT_TIMEOUT_MS (30 s)
let undo: (() => void) | undefined;

faultScenario({
  name: 'pg-dropped-packets',
  title: `PostgreSQL's packets dropped for ${DROP_MS / 1000} s (longer than an attempt timeout) under two consumers`,
  cleanup: async () => undo?.(),
  async fault({ a, b }) {
    undo = dropPackets(PORTS.postgres);
    const from = Date.now();
    try {
      await sleep(DROP_MS);
      expect([alive(a), alive(b)]).toEqual([true, true]);
    } finally {
      undo();
      undo = undefined;
    }
    const seconds = Math.round((Date.now() - from) / 1000);
    return { what: `PostgreSQL's packets dropped for ${seconds} s`, running: [a, b] };
  },
});
