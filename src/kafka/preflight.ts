/**
 * Start-up check of the topics: auto-creation is off (as it should be in production), so a
 * missing topic would make the ingester wait forever on a subscription, or every dead-lettering
 * retry forever on a publish that cannot succeed. A missing topic stops the process with the
 * command that creates it.
 */
import type { Kafka } from 'kafkajs';
import { dlqTopicFor } from '../dlq/topic';
import { ConfigError } from '../errors';

export async function checkTopics(kafka: Kafka, topics: readonly string[], withDlq: boolean): Promise<void> {
  const wanted = [...new Set(topics.flatMap((t) => (withDlq ? [t, dlqTopicFor(t)] : [t])))];
  const admin = kafka.admin();
  await admin.connect();
  let existing: Set<string>;
  try {
    existing = new Set(await admin.listTopics());
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const missing = wanted.filter((t) => !existing.has(t));
  if (missing.length === 0) return;
  throw new ConfigError(
    `Kafka has no topic ${missing.map((t) => JSON.stringify(t)).join(', ')} (KAFKA_TOPICS, and <topic>.dlq for ` +
      'dead letters, which idem never creates itself).\nCreate them, for example:\n' +
      missing
        .map(
          (t) =>
            `  kafka-topics.sh --bootstrap-server <broker> --create --topic ${t}` +
            (t.endsWith('.dlq') ? ' --partitions 1' : ' --partitions <n>'),
        )
        .join('\n') +
      '\n(the local stack creates events and events.dlq: idem stack up)',
  );
}
