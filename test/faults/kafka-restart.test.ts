/**
 * Fault scenario (issue 9): the Kafka broker killed with SIGKILL under two consumers and started
 * again 15 s later (a broker crash): fetches, offset commits, dead-letter and outbox publishes all
 * fail meanwhile, and the group coordinator is gone. No consumer may die of it.
 */
import { loadConfig } from '../../src/config';
import { kafkaPid } from '../../src/stack/kafka';
import { layoutFor } from '../../src/stack/layout';
import { isAlive } from '../../src/stack/proc';
import { stackUp } from '../../src/stack/stack';
import { eventually } from '../support/poll';
import { alive, faultScenario, sleep } from './support';

const stackConfig = loadConfig();
const DOWN_MS = 15_000;

faultScenario({
  name: 'kafka-restart',
  title: 'the Kafka broker killed -9 under two consumers and restarted 15 s later',
  cleanup: () => stackUp({ config: stackConfig }).then(() => undefined),
  async fault({ a, b }) {
    const pid = kafkaPid(layoutFor(stackConfig.cacheDir));
    if (pid === undefined)
      throw new Error('the stack runs no Kafka of its own to kill (KAFKA_BROKERS elsewhere?)');
    process.kill(pid, 'SIGKILL');
    await eventually(() => !isAlive(pid), 30_000, 'Kafka gone');
    const downAt = Date.now();
    await sleep(DOWN_MS);
    expect([alive(a), alive(b)]).toEqual([true, true]);
    await stackUp({ config: stackConfig });
    const seconds = Math.round((Date.now() - downAt) / 1000);
    return { what: `Kafka killed -9, down ${seconds} s`, running: [a, b] };
  },
});
