/** baseline-kafka: kafkajs reading and doing nothing, the ceiling any Kafka consumer here lives under. */
import { runKafkaScenario, type KafkaScenarioOptions } from './kafka-scenario';
import type { ScenarioResult } from './types';

export function runKafkaBaseline(opts: KafkaScenarioOptions): Promise<ScenarioResult> {
  return runKafkaScenario(opts, {
    name: `baseline-kafka${opts.rate !== undefined && opts.rate !== 'max' ? ` ${opts.rate}/s` : ''}`,
    kind: 'baseline-kafka',
    commitEachBatch: false,
    // The receive time is the effect: one clock read per fetched batch.
    handle: async (messages) => {
      const now = Date.now();
      return messages.map(() => now);
    },
  });
}
