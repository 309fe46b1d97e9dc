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
  sleep,
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

function storeUnavailable(err: ActivityFailure): boolean {
  const cause = err.cause;
  return (
    cause instanceof ApplicationFailure &&
    (cause.details?.[0] as Partial<ApplyFailureDetails> | undefined)?.storeUnavailable === true
  );
}

export async function processEvent(input: ProcessEventInput): Promise<ProcessEventResult> {
  const { applyEvent } = proxyActivities<Activities>({
    startToCloseTimeout: input.retry.attemptTimeoutMs ?? 30_000,
    retry: {
      initialInterval: input.retry.initialIntervalMs,
      maximumInterval: input.retry.maxIntervalMs,
      backoffCoefficient: 2,
      maximumAttempts: input.retry.maxAttempts,
      nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
    },
  });
  // Dead-lettering must not give up: while Kafka or PostgreSQL is down it keeps
  // retrying, and the open workflow shows the event as stuck in Temporal Web.
  const { deadLetter } = proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', backoffCoefficient: 2 },
  });

  const failure = await applyUntilDecided(applyEvent, input);
  if ('outcome' in failure) {
    setOutcome(failure.outcome);
    return failure;
  }
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

/**
 * Runs applyEvent until it succeeds or fails for a reason that is the event's.
 * When every attempt failed because PostgreSQL was down, that is an outage, not
 * the event's fault: no dead-lettering; wait and start a new series of attempts
 * (operators see `IdemOutcome = "store_unavailable"` in Temporal Web meanwhile).
 */
async function applyUntilDecided(
  applyEvent: Activities['applyEvent'],
  input: ProcessEventInput,
): Promise<ProcessEventResult | ReturnType<typeof describeFailure>> {
  for (let outage = 0; ; outage++) {
    try {
      return await applyEvent({ message: input.message, redrive: input.redrive !== undefined });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      if (!storeUnavailable(err)) return describeFailure(err, input.retry.maxAttempts);
      if (outage === 0) setOutcome('store_unavailable');
      log.warn('PostgreSQL unavailable after every attempt; retrying', { event: input.event, outage });
      await sleep(input.retry.maxIntervalMs);
    }
  }
}
