/**
 * What a prune of the dedup store is asked and what it reports: shared by `idem prune`, the
 * prune activity and the workflow its Temporal Schedule starts (plain data, no imports, so the
 * workflow bundle can take the types).
 */

/** The workflow's and the activity's input; unset fields come from the worker's configuration. */
export interface PruneInput {
  /** Rows per delete statement. @default IDEM_PRUNE_BATCH_SIZE */
  batchSize?: number;
  /** Count only, delete nothing. */
  dryRun?: boolean;
}

export interface DeadLetterHold {
  /** The source topic of the rows it holds. */
  topic: string;
  dlqTopic: string;
  /** The dead-letter topic does not exist: no record of it can be redriven. */
  missing?: boolean;
  /** The longest the dead-letter topic may keep a record (retention.ms + segment.ms + slack);
   * null: for ever (retention.ms -1, or compacted), so its rows are kept. */
  keepsAtMostMs: number | null;
  retentionMs: number | null;
  segmentMs: number;
  cleanupPolicy: string;
  /** Rows of this topic dead-lettered before this are deleted (ISO time); null: none. */
  cutoff: string | null;
}

export interface ReplayWindow {
  topic: string;
  /** How far back a replay of the topic from its beginning can read; null: no limit. */
  keepsAtMostMs: number | null;
  /** A replay can read events older than the store keeps rows: they would apply again. */
  exceedsRetention: boolean;
}

export interface PruneReport {
  dryRun: boolean;
  /** The database server's time the cutoffs count from. */
  now: string;
  namespace: string;
  namespaceRetentionMs: number;
  /** IDEM_DEDUP_RETENTION. */
  retentionMs: number;
  /** Rows processed before this are past retention: now − max(store, namespace retention). */
  cutoff: string;
  deadLetterHolds: DeadLetterHold[];
  replayWindows: ReplayWindow[];
  /** Rows past retention that may be deleted (counted before deleting). */
  prunable: number;
  /** Rows past retention kept: a dead-letter record may still redrive their event. */
  keptForDeadLetter: number;
  /** Rows past retention kept: a parked key waits behind their event. */
  keptForParkedKey: number;
  /** Rows of records rejected at ingest (ingest_rejections) whose dead-letter copy was published
   * before the cutoff: a record read again after that is past the replay window the store covers. */
  rejectionsPrunable: number;
  batchSize: number;
  deleted: number;
  batches: number;
  /** Of those rejection rows, deleted (after the processed_events rows, in batches as well). */
  rejectionsDeleted: number;
  /** Stopped before the end (a stop was requested); run it again to go on. */
  interrupted: boolean;
  durationMs: number;
  warnings: string[];
}
