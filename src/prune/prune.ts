/**
 * Pruning the dedup store: processed_events rows past the retention are deleted in batches,
 * oldest first, each batch one short statement. What stays past the retention, and why:
 *
 * - every row younger than the Temporal namespace's retention (a reset of a run Temporal still
 *   keeps would apply its event again without the row): the cutoff is now − max(store retention,
 *   namespace retention), and a store retention below the namespace's stops the prune;
 * - rows of events that were dead-lettered (still, or applied by a redrive since), while their
 *   topic's dead-letter topic may still hold the record: a redrive claims only a row that says
 *   dead-lettered and refuses an event without one, so the row must outlive the record;
 * - rows a parked key waits behind (released when the row says applied or skipped).
 *
 * The rows of records rejected at ingest (ingest_rejections: their dead-letter copy is published, so
 * a record read again is not published again) go by the same cutoff: a record is read again before
 * its offset is committed, or by a replay, which the retention must cover anyway.
 *
 * The cutoffs count from the database server's clock, the one processed_at was written with.
 */
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { dlqTopicFor } from '../dlq/topic';
import { topicRetentions, type TopicRetention } from '../kafka/topic-retention';
import {
  countPrunable,
  deadLetteredTopics,
  deletePrunable,
  type PruneCutoffs,
} from '../store/sql/prune-processed-events';
import { countRejectionsBefore, deleteRejectionsBefore } from '../store/sql/ingest-rejections';
import { serverTime } from '../store/sql/server-time';
import { checkDedupRetention } from '../temporal/namespace-retention';
import { formatRetention } from './duration';
import type { DeadLetterHold, PruneReport, ReplayWindow } from './types';

export interface PruneDeps {
  pool: Pool;
  kafka: Kafka;
  /** The Temporal namespace (for messages) and its workflow retention. */
  namespace: string;
  namespaceRetentionMs: () => Promise<number>;
  /** KAFKA_TOPICS: their dead-letter topics hold rows back, and their retention is the replay window. */
  topics: readonly string[];
}

export interface PruneProgress {
  deleted: number;
  /** Rows counted prunable at the start. */
  prunable: number;
  batches: number;
  /** Rows of rejected records deleted (after the processed_events rows). */
  rejectionsDeleted: number;
}

export interface PruneOptions {
  /** IDEM_DEDUP_RETENTION in milliseconds. */
  retentionMs: number;
  batchSize: number;
  dryRun?: boolean;
  /** Called once counted, before the first delete. */
  onPlan?: (planned: PruneReport) => void;
  /** Called after each batch (progress output, an activity's heartbeat). */
  onBatch?: (p: PruneProgress) => void;
  /** Stops between two batches. */
  signal?: AbortSignal;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

function before(now: Date, ms: number): Date {
  return new Date(now.getTime() - ms);
}

/** The dead-letter cutoff of one source topic, from its dead-letter topic's retention. */
function holdFor(topic: string, r: TopicRetention | undefined, now: Date, cutoff: Date): DeadLetterHold {
  const dlqTopic = dlqTopicFor(topic);
  if (!r || r.missing) {
    // No dead-letter topic, no record to redrive: only the retention holds the rows.
    return {
      topic,
      dlqTopic,
      missing: true,
      keepsAtMostMs: 0,
      retentionMs: null,
      segmentMs: 0,
      cleanupPolicy: '',
      cutoff: cutoff.toISOString(),
    };
  }
  const dlqCutoff = r.keepsAtMostMs === null ? null : before(now, r.keepsAtMostMs);
  return {
    topic,
    dlqTopic,
    keepsAtMostMs: r.keepsAtMostMs,
    retentionMs: r.retentionMs,
    segmentMs: r.segmentMs,
    cleanupPolicy: r.cleanupPolicy,
    cutoff: iso(dlqCutoff === null ? null : dlqCutoff < cutoff ? dlqCutoff : cutoff),
  };
}

function replayWarning(w: ReplayWindow, retentionMs: number): string {
  const reach =
    w.keepsAtMostMs === null
      ? 'keeps records for ever'
      : `keeps records up to ${formatRetention(w.keepsAtMostMs)}`;
  return (
    `topic ${w.topic} ${reach}, longer than IDEM_DEDUP_RETENTION (${formatRetention(retentionMs)}): a replay ` +
    'reading further back than the retention would apply the older events again (their rows are pruned and ' +
    "Temporal no longer keeps their workflows). Raise IDEM_DEDUP_RETENTION above the topic's retention, or " +
    'never replay from further back than it.'
  );
}

/** Plans the prune, counts, and (unless a dry run) deletes in batches. */
export async function prune(deps: PruneDeps, opts: PruneOptions): Promise<PruneReport> {
  const started = Date.now();
  const namespaceRetentionMs = await deps.namespaceRetentionMs();
  checkDedupRetention(opts.retentionMs, namespaceRetentionMs, deps.namespace);
  const now = await serverTime(deps.pool);
  const cutoff = before(now, Math.max(opts.retentionMs, namespaceRetentionMs));

  // The dead-letter topics of the configured topics, and of any topic the old rows name.
  const rowTopics = await deadLetteredTopics(deps.pool, cutoff);
  const sourceTopics = [...new Set([...deps.topics, ...rowTopics.filter((t): t is string => t !== null)])];
  const retentions = await topicRetentions(deps.kafka, [...sourceTopics.map(dlqTopicFor), ...deps.topics]);
  const retentionOf = new Map(retentions.map((r) => [r.topic, r]));
  const holds = sourceTopics.map((t) => holdFor(t, retentionOf.get(dlqTopicFor(t)), now, cutoff));

  const dlqCutoffs = holds.map((h) => (h.cutoff === null ? null : new Date(h.cutoff)));
  // A row without a topic: the strictest of the known dead-letter topics (kept if none is known).
  const strictest =
    dlqCutoffs.length === 0 || dlqCutoffs.includes(null)
      ? null
      : new Date(Math.min(...dlqCutoffs.map((d) => (d as Date).getTime())));
  const cutoffs: PruneCutoffs = {
    retention: cutoff,
    deadLetter: holds.map((h, i) => ({ topic: h.topic, cutoff: dlqCutoffs[i] ?? null })),
    deadLetterDefault: strictest,
  };

  const replayWindows: ReplayWindow[] = deps.topics.map((topic) => {
    const r = retentionOf.get(topic);
    const keepsAtMostMs = !r || r.missing ? 0 : r.keepsAtMostMs;
    return {
      topic,
      keepsAtMostMs,
      exceedsRetention: keepsAtMostMs === null || keepsAtMostMs > opts.retentionMs,
    };
  });
  const warnings = replayWindows
    .filter((w) => w.exceedsRetention)
    .map((w) => replayWarning(w, opts.retentionMs));

  const counts = await countPrunable(deps.pool, cutoffs);
  const rejectionsPrunable = await countRejectionsBefore(deps.pool, cutoff);
  const report: PruneReport = {
    dryRun: opts.dryRun === true,
    now: now.toISOString(),
    namespace: deps.namespace,
    namespaceRetentionMs,
    retentionMs: opts.retentionMs,
    cutoff: cutoff.toISOString(),
    deadLetterHolds: holds,
    replayWindows,
    ...counts,
    rejectionsPrunable,
    batchSize: opts.batchSize,
    deleted: 0,
    batches: 0,
    rejectionsDeleted: 0,
    interrupted: false,
    durationMs: 0,
    warnings,
  };
  opts.onPlan?.({ ...report });
  if (!opts.dryRun) {
    const progress = () =>
      opts.onBatch?.({
        deleted: report.deleted,
        prunable: counts.prunable,
        batches: report.batches,
        rejectionsDeleted: report.rejectionsDeleted,
      });
    /** Runs `deleteBatch` until it deletes less than a batch or a stop is asked; each count to `add`. */
    const inBatches = async (deleteBatch: () => Promise<number>, add: (n: number) => void) => {
      for (;;) {
        if (opts.signal?.aborted) {
          report.interrupted = true;
          return;
        }
        const n = await deleteBatch();
        if (n === 0) return;
        add(n);
        report.batches += 1;
        progress();
        if (n < opts.batchSize) return;
      }
    };
    await inBatches(
      () => deletePrunable(deps.pool, cutoffs, opts.batchSize),
      (n) => (report.deleted += n),
    );
    if (!report.interrupted)
      await inBatches(
        () => deleteRejectionsBefore(deps.pool, cutoff, opts.batchSize),
        (n) => (report.rejectionsDeleted += n),
      );
  }
  report.durationMs = Date.now() - started;
  return report;
}
