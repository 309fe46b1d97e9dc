/**
 * One workflow per event. Its ID is the event's dedup key (src/events/identity.ts),
 * started with REJECT_DUPLICATE, so Temporal refuses a second run while it keeps
 * this one. Deterministic code only: all I/O happens in the activities.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TemporalFailure,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DlqReason } from '../events/types';
import { NON_RETRYABLE_TYPES } from '../errors';
import { progressRecorder, type ProgressRecorder } from './progress';
import type { ApplyFailureDetails, DeadLetterInput, ProcessEventInput, ProcessEventResult } from './types';

/**
 * What applyEvent's last attempt reported. A regular activity's failure arrives
 * wrapped in an ActivityFailure; a local activity's arrives as it is (an
 * ApplicationFailure, or a TimeoutFailure). Anything else is not the activity's.
 */
function activityFailureOf(err: unknown): TemporalFailure | undefined {
  if (err instanceof ActivityFailure) return err.cause instanceof TemporalFailure ? err.cause : err;
  return err instanceof TemporalFailure ? err : undefined;
}

/** What the last failure of applyEvent says: reason for the DLQ, attempts made, message. */
export function describeFailure(
  cause: TemporalFailure,
  maxAttempts: number,
): { reason: DlqReason; attempts: number; error: string } {
  if (cause instanceof ApplicationFailure) {
    const details = cause.details?.[0] as Partial<ApplyFailureDetails> | undefined;
    return {
      reason: details?.reason ?? 'handler_failed',
      attempts: details?.attempt ?? maxAttempts,
      error: `${cause.type ?? 'Error'}: ${cause.message}`,
    };
  }
  // Timeouts and cancellations: the handler never reported; retries are exhausted.
  return { reason: 'handler_failed', attempts: maxAttempts, error: `${cause.name}: ${cause.message}` };
}

/** IdemErrorClass of a failure: the error's type as the activity reported it, else the failure's
 * class (TimeoutFailure, CancelledFailure). */
export function errorClassOf(cause: TemporalFailure): string {
  return cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : cause.name;
}

/** A run created by resetting this workflow: a reset gives the execution a new run ID and keeps
 * the one its start event recorded (a continue-as-new run records its own). */
function isReset(): boolean {
  const info = workflowInfo();
  return info.originalExecutionRunId !== undefined && info.originalExecutionRunId !== info.runId;
}

/** Why applyEvent's failure is none of the event's: PostgreSQL was down through every attempt,
 * or another attempt (a frozen worker's) holds the event's claim. Undefined when it is the event's. */
function notTheEventsFault(cause: TemporalFailure): 'store_unavailable' | 'claim_held' | undefined {
  if (!(cause instanceof ApplicationFailure)) return undefined;
  const details = cause.details?.[0] as Partial<ApplyFailureDetails> | undefined;
  if (details?.storeUnavailable === true) return 'store_unavailable';
  if (details?.claimHeld === true) return 'claim_held';
  return undefined;
}

export async function processEvent(input: ProcessEventInput): Promise<ProcessEventResult> {
  // A local activity: applyEvent is short, transactional and idempotent by the store, so it
  // runs in the worker that runs this workflow, without a round trip through Temporal's
  // matching or activity history events. One attempt per call: the workflow retries (see
  // applyUntilDecided), because the SDK's own local retries keep the first attempt's
  // start-to-close timer running (temporalio/sdk-rust#1454, in @temporalio/worker 1.24.0), which
  // timed out a whole series 30 s after it began and dead-lettered events whose attempts were
  // each failing fast during an outage.
  // IDEM_APPLY_AS=regular: an activity task through matching instead, for long handlers, retried
  // by the server.
  const startToCloseTimeout = input.retry.attemptTimeoutMs ?? 30_000;
  const localAttempts = input.shape?.applyAs !== 'regular';
  const { applyEvent } = localAttempts
    ? proxyLocalActivities<Activities>({ startToCloseTimeout, retry: { maximumAttempts: 1 } })
    : proxyActivities<Activities>({
        startToCloseTimeout,
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

  const shown = progressRecorder(input.continuedInOutage === true);
  const deadLetterEvent = async (
    failure: Omit<DeadLetterInput, 'event' | 'message'>,
    errorClass: string,
  ): Promise<void> => {
    log.warn('dead-lettering event', { ...failure, event: input.event });
    shown.progress({
      stage: 'dead_lettering',
      attempts: failure.attempts,
      error: { class: errorClass, message: failure.error, reason: failure.reason, attempt: failure.attempts },
    });
    await deadLetter({ event: input.event, message: input.message, ...failure });
    shown.progress({ stage: 'dead_lettered', outcome: 'dead_lettered' });
  };
  let failure: Awaited<ReturnType<typeof applyUntilDecided>>;
  try {
    failure = await applyUntilDecided(applyEvent, input, shown, localAttempts);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // An operator cancelled the workflow (Temporal Web, `temporal workflow cancel`): the event
    // must not vanish with it. It is dead-lettered, out of the cancellation's reach, so it can be
    // redriven or skipped, and the run ends cancelled.
    await CancellationScope.nonCancellable(() =>
      deadLetterEvent(
        {
          reason: 'cancelled',
          attempts: 0,
          error: 'the event workflow was cancelled before it applied the event',
        },
        'CancelledFailure',
      ),
    );
    throw err;
  }
  if ('outcome' in failure) {
    // Plain success writes no search attribute: a completed workflow without IdemOutcome (and
    // IdemStage) is an applied event, no history event more on the common path (unless
    // IDEM_UPSERT_APPLIED). After a retry or a wait, IdemStage says done.
    if (shown.stageSet()) shown.progress({ stage: 'done', outcome: failure.outcome });
    else if (failure.outcome !== 'applied' || shown.outcomeSet() || input.shape?.upsertApplied)
      shown.outcome(failure.outcome);
    return failure;
  }
  const { errorClass, ...deadLettered } = failure;
  await deadLetterEvent(deadLettered, errorClass);
  // Ends the run failed (visible in Temporal Web), ready for an operator's redrive.
  throw ApplicationFailure.nonRetryable(
    `dead-lettered (${failure.reason}) after ${failure.attempts} attempt(s): ${failure.error}`,
    'DeadLettered',
    deadLettered,
  );
}

/**
 * Runs applyEvent until it succeeds or fails for a reason that is the event's.
 * A failure that is the event's counts as an attempt: retried with backoff up to maxAttempts
 * (here for a local activity; by the server for a regular one), then returned for dead-lettering.
 * A failure that is not the event's counts nothing: PostgreSQL down (an outage; operators see
 * `IdemOutcome = "store_unavailable"` in Temporal Web meanwhile), or a claim held by another
 * attempt's open transaction (a worker frozen mid-attempt; it commits, and the next attempt finds
 * a duplicate, or it ends, and the next attempt applies). Those wait and try again.
 */
async function applyUntilDecided(
  applyEvent: Activities['applyEvent'],
  input: ProcessEventInput,
  shown: ProgressRecorder,
  localAttempts: boolean,
): Promise<ProcessEventResult | (ReturnType<typeof describeFailure> & { errorClass: string })> {
  const { maxAttempts, initialIntervalMs, maxIntervalMs } = input.retry;
  let attempt = 1;
  let outageShown = input.continuedInOutage === true;
  for (let waits = 0; ;) {
    try {
      return await applyEvent({
        message: input.message,
        ...(localAttempts ? { attempt } : {}),
        redrive: input.redrive !== undefined,
        // An operator's reset of this workflow (Temporal Web, `temporal workflow reset`): the new
        // run may apply an event the reset-away run dead-lettered, or one it never finished.
        ...(isReset() ? { reset: true } : {}),
        runStartedAtMs: workflowInfo().runStartTime.getTime(),
      });
    } catch (err) {
      if (isCancellation(err)) throw err; // the workflow's cancellation, handled by the caller
      const failure = activityFailureOf(err);
      if (!failure) throw err;
      const notOurs = notTheEventsFault(failure);
      const errorClass = errorClassOf(failure);
      if (notOurs === undefined) {
        const retryable = !(
          failure instanceof ApplicationFailure &&
          (failure.nonRetryable || NON_RETRYABLE_TYPES.includes(failure.type ?? ''))
        );
        if (!localAttempts || !retryable || attempt >= maxAttempts)
          return { ...describeFailure(failure, localAttempts ? attempt : maxAttempts), errorClass };
        const { reason, error } = describeFailure(failure, attempt);
        shown.progress({
          stage: 'retrying',
          attempts: attempt,
          error: { class: errorClass, message: error, reason, attempt },
        });
        await sleep(Math.min(maxIntervalMs, initialIntervalMs * 2 ** (attempt - 1)));
        attempt++;
        continue;
      }
      const { reason, error } = describeFailure(failure, attempt);
      const waited = { class: errorClass, message: error, reason, attempt };
      if (notOurs === 'claim_held') {
        shown.progress({ stage: 'waiting_for_claim', attempts: attempt - 1, error: waited });
        log.warn('another attempt holds the event; retrying when it ends', { event: input.event, waits });
      } else {
        shown.progress({
          stage: 'waiting_for_store',
          attempts: attempt - 1,
          error: waited,
          ...(outageShown ? {} : { outcome: 'store_unavailable' as const }),
        });
        outageShown = true;
        log.warn('PostgreSQL unavailable; retrying', { event: input.event, waits });
      }
      await sleep(maxIntervalMs);
      waits++;
      // A long outage must not run the history into Temporal's limit (the server would terminate
      // the run, and the event would be lost without a trace): carry on in a new run.
      if (waits >= (input.retry.outageRoundsPerRun ?? 50) || workflowInfo().continueAsNewSuggested)
        await continueAsNew<(i: ProcessEventInput) => Promise<ProcessEventResult>>({
          ...input,
          continuedInOutage: true,
        });
    }
  }
}
