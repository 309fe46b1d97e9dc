/**
 * pruneProcessedEvents: the prune of the dedup store (src/prune/prune.ts) as an activity, run by
 * the pruneDedupStore workflow that `idem prune --schedule install` schedules. It heartbeats
 * after each batch and stops between two batches when cancelled; a retry starts over, which is
 * safe (each batch deletes only what is still past retention). A store retention shorter than
 * the namespace's is not retried: the worker's configuration must change.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { NonRetriableError } from '../errors';
import { prune, type PruneDeps } from '../prune/prune';
import type { PruneInput, PruneReport } from '../prune/types';

export interface PruneActivityDeps extends PruneDeps {
  /** IDEM_DEDUP_RETENTION and IDEM_PRUNE_BATCH_SIZE of the worker. */
  retentionMs: number;
  batchSize: number;
}

export function createPruneProcessedEvents(
  deps: PruneActivityDeps | undefined,
): (input?: PruneInput) => Promise<PruneReport> {
  return async function pruneProcessedEvents(input = {}) {
    if (!deps) {
      throw ApplicationFailure.nonRetryable(
        'this worker was started without what pruning needs (Kafka and Temporal connections)',
        'PruneNotConfigured',
      );
    }
    const ctx = Context.current();
    try {
      const report = await prune(deps, {
        retentionMs: deps.retentionMs,
        batchSize: input.batchSize ?? deps.batchSize,
        dryRun: input.dryRun === true,
        signal: ctx.cancellationSignal,
        onPlan: (r) => ctx.log.info('pruning the dedup store', { cutoff: r.cutoff, prunable: r.prunable }),
        onBatch: (p) => ctx.heartbeat(p),
      });
      for (const w of report.warnings) ctx.log.warn(w);
      return report;
    } catch (err) {
      if (err instanceof NonRetriableError) throw ApplicationFailure.nonRetryable(err.message, err.name);
      throw err;
    }
  };
}
