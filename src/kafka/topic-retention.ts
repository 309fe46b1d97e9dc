/**
 * How long a topic may keep a record, from the topic's configuration (Kafka's own answer, with the
 * broker's defaults filled in): what `idem prune` needs to know of a dead-letter topic (a record
 * there may be redriven until it ages out) and of a source topic (how far back a replay can read).
 */
import { ConfigResourceTypes, type Kafka } from 'kafkajs';

export interface TopicRetention {
  topic: string;
  /** The topic does not exist: it holds no record. */
  missing?: true;
  /** retention.ms; null when records are never deleted by time (-1). */
  retentionMs: number | null;
  /** segment.ms: Kafka deletes whole segments, so a record can outlive retention.ms by this. */
  segmentMs: number;
  cleanupPolicy: string;
  /** The longest a record can stay in the topic: retention.ms + segment.ms, or null for ever
   * (no time retention, or a compacted topic without `delete`). */
  keepsAtMostMs: number | null;
}

/** Kafka checks retention every log.retention.check.interval.ms (5 minutes by default); a record
 * is published a little after its row is written. An hour covers both. */
export const RETENTION_SLACK_MS = 3_600_000;

export function keepsAtMostMs(
  retentionMs: number | null,
  segmentMs: number,
  cleanupPolicy: string,
): number | null {
  const policies = cleanupPolicy.split(',').map((p) => p.trim());
  if (retentionMs === null || !policies.includes('delete')) return null;
  return retentionMs + segmentMs + RETENTION_SLACK_MS;
}

/** The retention of each topic, one admin request for all of them. */
export async function topicRetentions(kafka: Kafka, topics: readonly string[]): Promise<TopicRetention[]> {
  const wanted = [...new Set(topics)];
  if (wanted.length === 0) return [];
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = wanted.filter((t) => existing.has(t));
    const described =
      present.length === 0
        ? { resources: [] }
        : await admin.describeConfigs({
            includeSynonyms: false,
            resources: present.map((name) => ({
              type: ConfigResourceTypes.TOPIC,
              name,
              configNames: ['retention.ms', 'segment.ms', 'cleanup.policy'],
            })),
          });
    const byTopic = new Map(described.resources.map((r) => [r.resourceName, r]));
    return wanted.map((topic): TopicRetention => {
      const r = byTopic.get(topic);
      if (!existing.has(topic) || !r) {
        return {
          topic,
          missing: true,
          retentionMs: 0,
          segmentMs: 0,
          cleanupPolicy: 'delete',
          keepsAtMostMs: 0,
        };
      }
      if (r.errorCode !== 0) {
        throw new Error(`Kafka did not describe topic ${topic}: ${r.errorMessage ?? `error ${r.errorCode}`}`);
      }
      const value = (name: string): string => {
        const entry = r.configEntries.find((e) => e.configName === name);
        if (entry === undefined) throw new Error(`Kafka's description of topic ${topic} lacks ${name}`);
        return entry.configValue;
      };
      const retention = Number(value('retention.ms'));
      const retentionMs = retention < 0 ? null : retention;
      const segmentMs = Number(value('segment.ms'));
      const cleanupPolicy = value('cleanup.policy');
      return {
        topic,
        retentionMs,
        segmentMs,
        cleanupPolicy,
        keepsAtMostMs: keepsAtMostMs(retentionMs, segmentMs, cleanupPolicy),
      };
    });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
