/**
 * One workflow per event. Its ID is the event's dedup key (src/events/identity.ts),
 * started with REJECT_DUPLICATE, so Temporal refuses a second run while it keeps
 * this one. Deterministic code only: all I/O happens in the activities.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  log,
  proxyActivities,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DlqReason } from '../events/types';
import { NON_RETRYABLE_TYPES } from '../errors';
import { IdemOutcome, type Outcome } from './search-attributes';
import type { ApplyFailureDetails, ProcessEventInput, ProcessEventResult } from './types';

function setOutcome(outcome: Outcome): void {
  upsertSearchAttributes([{ key: IdemOutcome, value: outcome }]);
}

/** What the last failure of applyEvent says: reason for the DLQ, attempts made, message. */
export function describeFailure(
  err: ActivityFailure,
  maxAttempts: number,
): { reason: DlqReason; attempts: number; error: string } {
  const cause = err.cause;
  if (cause instanceof ApplicationFailure) {
    const details = cause.details?.[0] as Partial<ApplyFailureDetails> | undefined;
    return {
      reason: details?.reason ?? 'handler_failed',
      attempts: details?.attempt ?? maxAttempts,
      error: `${cause.type ?? 'Error'}: ${cause.message}`,
    };
  }
  // Timeouts and cancellations: the handler never reported; retries are exhausted.
  return {
    reason: 'handler_failed',
    attempts: maxAttempts,
    error: cause ? `${cause.name}: ${cause.message}` : err.message,
  };
}

export async function processEvent(input: ProcessEventInput): Promise<ProcessEventResult> {
  const { applyEvent } = proxyActivities<Activities>({
    startToCloseTimeout: input.retry.attemptTimeoutMs ?? 30_000,
    retry: {
      initialInterval: input.retry.initialIntervalMs,
      maximumInterval: input.retry.maxIntervalMs,
      backoffCoefficient: 2,
      maximumAttempts: input.retry.maxAttempts,
      nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
    },
  });
  // Dead-lettering must not give up: while Kafka or PostgreSQL is down it keeps
  // retrying, and the open workflow shows the event as stuck in Temporal Web.
  const { deadLetter } = proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
  });

  try {
    const result = await applyEvent({ message: input.message, redrive: input.redrive !== undefined });
    setOutcome(result.outcome);
    return result;
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const failure = describeFailure(err, input.retry.maxAttempts);
    log.warn('dead-lettering event', { ...failure, event: input.event });
    await deadLetter({ event: input.event, message: input.message, ...failure });
    setOutcome('dead_lettered');
    // Ends the run failed (visible in Temporal Web), ready for an operator's redrive.
    throw ApplicationFailure.nonRetryable(
      `dead-lettered (${failure.reason}) after ${failure.attempts} attempt(s): ${failure.error}`,
      'DeadLettered',
      failure,
    );
  }
}
