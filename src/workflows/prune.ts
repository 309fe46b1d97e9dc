/**
 * The dedup store's scheduled prune (src/prune/schedule.ts starts it): one activity that deletes
 * processed_events rows past retention in batches on a worker of this task queue. Deterministic
 * code only.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { PruneInput, PruneReport } from '../prune/types';

const { pruneProcessedEvents } = proxyActivities<Activities>({
  // Millions of rows take minutes; each batch heartbeats, so a lost worker is noticed in one.
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '30 seconds',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    maximumAttempts: 5,
  },
});

export async function pruneDedupStore(input: PruneInput = {}): Promise<PruneReport> {
  return await pruneProcessedEvents(input);
}
