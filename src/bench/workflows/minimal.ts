/**
 * The lightest workflows Temporal runs: one no-op activity, regular or local. The
 * Temporal baselines of `idem bench` measure them to show what the server costs alone.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { BenchActivities } from '../noop-activity';

const regular = proxyActivities<BenchActivities>({ startToCloseTimeout: '10s' });
const local = proxyLocalActivities<BenchActivities>({ startToCloseTimeout: '10s' });

export async function minimalRegular(): Promise<void> {
  await regular.noop();
}

export async function minimalLocal(): Promise<void> {
  await local.noop();
}
