/**
 * A worker's warm-up (src/temporal/warm-up.ts starts a few before the process takes events):
 * one local activity that hands its argument back, so the workflow sandbox, the payload
 * converter and local activities have run once before the first event needs them.
 * Deterministic code only; no effect anywhere.
 */
import { proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { WarmUpProbe } from './types';

const { warmUp } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3 },
});

export async function idemWarmUp(probe: WarmUpProbe): Promise<WarmUpProbe> {
  return await warmUp(probe);
}
