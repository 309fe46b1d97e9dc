/**
 * The outbox relay: publishes rows that handlers wrote to the `outbox` table (in
 * the transaction of the event that caused them) to Kafka as structured-mode
 * CloudEvents, the outbox row's uuid as the event id.
 *
 * One batch is one PostgreSQL transaction: lock unpublished rows
 * (`for update skip locked`), publish them with `acks: -1` and wait, mark them
 * published, commit.
 *
 * - At least once: a crash (or a failed commit) after Kafka's ack and before the
 *   commit leaves the rows unpublished, and they are published again with the
 *   same ids. Consumers dedup by CloudEvent id.
 * - Several relays may run (one per worker process): skip locked hands each row
 *   to one of them while both are alive. Per-key order holds within one relay
 *   (rows go out in seq order); with several relays, two batches may overtake each
 *   other, so consumers that need per-key order should rely on the ids and data
 *   (e.g. `account.balance_changed` carries the resulting balance) or run one relay.
 */
import type { Producer, TopicMessages } from 'kafkajs';
import type { Pool, PoolClient } from 'pg';

import { hasKafkaErrorType } from '../kafka/errors';
import type { Logger } from '../observability/logger';
import { inTransaction } from '../store/transaction';
import { countOutboxBacklog } from '../store/sql/count-outbox-backlog';
import { fetchUnpublishedOutbox, type OutboxRow } from '../store/sql/fetch-unpublished-outbox';
import { markOutboxFailed } from '../store/sql/mark-outbox-failed';
import { markOutboxPublished } from '../store/sql/mark-outbox-published';

export const CLOUDEVENTS_JSON = 'application/cloudevents+json';

export interface OutboxRelayOptions {
  pool: Pool;
  /** A connected kafkajs producer; the relay neither connects nor disconnects it. */
  producer: Producer;
  /** Pause between polls when the last batch was not full. @default 100 */
  pollIntervalMs?: number;
  /** Rows per transaction. @default 500 */
  batchSize?: number;
  /** Longest pause after consecutive failures (PostgreSQL or Kafka down). @default 10000 */
  maxBackoffMs?: number;
  logger?: Pick<Logger, 'warn' | 'debug'>;
  /** prom-client Counters and Gauges fit. */
  metrics?: {
    outboxPublished?: { inc(value?: number): void };
    outboxFailed?: { inc(value?: number): void };
    outboxBacklog?: { set(value: number): void };
  };
  /** How often the backlog (`outboxBacklog`: rows unpublished and not failed) is counted, while
   * running; 0: never. @default 10000 */
  backlogIntervalMs?: number;
}

export interface OutboxRelay {
  /** Starts the polling loop in the background; a no-op when running. */
  start(): void;
  /** Stops the loop after the batch in progress; resolves when it has ended. */
  stop(): Promise<void>;
  /** Publishes one batch; returns how many rows it published. */
  runOnce(): Promise<number>;
}

/** The CloudEvents JSON envelope of an outbox row (structured content mode). */
export function outboxCloudEvent(row: OutboxRow): Record<string, unknown> {
  const ce: Record<string, unknown> = {
    specversion: '1.0',
    id: row.id,
    source: row.source,
    type: row.type,
    time: row.createdAt.toISOString(),
  };
  if (row.subject !== null) ce.subject = row.subject;
  // Extension attribute (lowercase alphanumerics only): the dedup key of the event that caused it.
  if (row.causedBy !== null) ce.idemcausedby = row.causedBy;
  if (row.data !== null) {
    ce.datacontenttype = 'application/json';
    ce.data = row.data;
  }
  return ce;
}

export function createOutboxRelay(opts: OutboxRelayOptions): OutboxRelay {
  const pollIntervalMs = opts.pollIntervalMs ?? 100;
  const batchSize = opts.batchSize ?? 500;
  const maxBackoffMs = opts.maxBackoffMs ?? 10_000;
  const backlogIntervalMs = opts.backlogIntervalMs ?? 10_000;
  let loop: Promise<void> | undefined;
  let stopping = false;
  let wake: (() => void) | undefined;
  let backlogTimer: NodeJS.Timeout | undefined;
  let sampling: Promise<void> = Promise.resolve();

  /** One count per interval, on its own timer: the publishing loop never waits for it. A count
   * that fails (PostgreSQL down) leaves the last value; the loop logs the outage. */
  function sampleBacklog(): void {
    const gauge = opts.metrics?.outboxBacklog;
    if (!gauge || backlogIntervalMs <= 0 || stopping) return;
    sampling = countOutboxBacklog(opts.pool)
      .then((n) => gauge.set(n))
      .catch((err: unknown) => opts.logger?.debug({ err }, 'outbox relay: counting the backlog failed'))
      .finally(() => {
        if (stopping) return;
        backlogTimer = setTimeout(sampleBacklog, backlogIntervalMs);
        backlogTimer.unref();
      });
  }

  async function runOnce(): Promise<number> {
    const { published, failed } = await inTransaction(opts.pool, async (client) => {
      const rows = await fetchUnpublishedOutbox(client, batchSize);
      if (rows.length === 0) return { published: 0, failed: 0 };
      try {
        await opts.producer.sendBatch({ acks: -1, topicMessages: toTopicMessages(rows) });
      } catch (err) {
        if (!hasKafkaErrorType(err, REFUSED_FOR_GOOD)) throw err;
        // Some row is refused for good: find which, one by one; the others go out.
        return publishOneByOne(client, rows);
      }
      await markOutboxPublished(
        client,
        rows.map((r) => r.seq),
      );
      return { published: rows.length, failed: 0 };
    });
    // Counted once committed: a failed commit publishes the rows again on the next run.
    if (published > 0) opts.metrics?.outboxPublished?.inc(published);
    if (failed > 0) opts.metrics?.outboxFailed?.inc(failed);
    return published;
  }

  /** Rows Kafka refuses for good are moved aside with their error (logged); the rest are
   * published and marked. A transient failure (Kafka down) ends the batch as before. */
  async function publishOneByOne(client: PoolClient, rows: OutboxRow[]) {
    const sent: string[] = [];
    let failed = 0;
    for (const row of rows) {
      try {
        await opts.producer.sendBatch({ acks: -1, topicMessages: toTopicMessages([row]) });
        sent.push(row.seq);
      } catch (err) {
        if (!hasKafkaErrorType(err, REFUSED_FOR_GOOD)) throw err;
        const error = err instanceof Error ? err.message : String(err);
        opts.logger?.warn(
          { err, seq: row.seq, topic: row.topic, id: row.id },
          'outbox relay: Kafka refused this row for good; moved aside (outbox.failed_at), the others go on',
        );
        await markOutboxFailed(client, row.seq, error);
        failed++;
      }
    }
    await markOutboxPublished(client, sent);
    return { published: sent.length, failed };
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!stopping) {
      let published = 0;
      try {
        published = await runOnce();
        failures = 0;
      } catch (err) {
        failures++;
        opts.logger?.warn({ err, failures }, 'outbox relay: publishing a batch failed; retrying');
      }
      if (stopping) break;
      if (failures > 0) await pause(Math.min(maxBackoffMs, pollIntervalMs * 2 ** failures));
      // A full batch means more rows are probably waiting: go again at once.
      else if (published < batchSize) await pause(pollIntervalMs);
    }
  }

  return {
    start() {
      if (loop) return;
      stopping = false;
      loop = run();
      sampleBacklog();
    },
    async stop() {
      stopping = true;
      wake?.();
      clearTimeout(backlogTimer);
      await loop;
      await sampling;
      loop = undefined;
    },
    runOnce,
  };
}

/** Rows grouped by topic, each topic's rows in seq order. */
function toTopicMessages(rows: OutboxRow[]): TopicMessages[] {
  const byTopic = new Map<string, TopicMessages>();
  for (const row of rows) {
    let tm = byTopic.get(row.topic);
    if (!tm) {
      tm = { topic: row.topic, messages: [] };
      byTopic.set(row.topic, tm);
    }
    tm.messages.push({
      key: row.messageKey,
      value: JSON.stringify(outboxCloudEvent(row)),
      headers: { 'content-type': CLOUDEVENTS_JSON },
    });
  }
  return [...byTopic.values()];
}

/** Kafka's answers that no retry changes: the topic does not exist or is invalid, the message is
 * over its size limit, the producer may not write there. */
const REFUSED_FOR_GOOD = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'INVALID_TOPIC_EXCEPTION',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'TOPIC_AUTHORIZATION_FAILED',
]);
