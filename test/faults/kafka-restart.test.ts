/**
 * Fault scenario (issue 9): the Kafka broker killed with SIGKILL under two consumers and started
 * again 15 s later (a broker crash): fetches, offset commits, dead-letter and outbox publishes all
 * fail meanwhile, and the group coordinator is gone. No consumer may die of it.
 */
import { kafkaPid } from '../../src/stack/kafka';
import { faultScenario, killStackServer, restartStack } from './support';

faultScenario({
  name: 'kafka-restart',
  title: 'the Kafka broker killed -9 under two consumers and restarted 15 s later',
  cleanup: restartStack,
  fault: async ({ a, b }) => ({ what: await killStackServer('Kafka', kafkaPid, [a, b]), running: [a, b] }),
});
