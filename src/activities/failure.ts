/**
 * How activity errors reach the workflow: an ApplicationFailure whose `type` is
 * the error's name, `nonRetryable` when the error is not retriable, and details
 * `[ApplyFailureDetails]` so the workflow dead-letters with the right reason and
 * attempt count.
 */
import { ApplicationFailure } from '@temporalio/common';

import {
  ClaimHeldError,
  IdemError,
  InvalidEnvelopeError,
  InvalidPayloadError,
  UnknownEventTypeError,
} from '../errors';
import type { DlqReason } from '../events/types';
import { isErrorLike, isStoreError, isStoreUnavailable } from '../store/store-error';
import type { ApplyFailureDetails } from '../workflows/types';

export { isStoreUnavailable };

/** A data exception PostgreSQL raised on the store's connection (a handler's statement with a
 * value its column cannot take). */
function isDataException(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return isStoreError(err) && typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}

/** The DLQ reason of an error; anything not classified is a handler failure. */
export function reasonOf(err: unknown): DlqReason {
  if (err instanceof UnknownEventTypeError) return 'unknown_type';
  if (err instanceof InvalidPayloadError) return 'invalid_payload';
  if (err instanceof InvalidEnvelopeError) return 'invalid_envelope';
  return 'handler_failed';
}

/**
 * The ApplicationFailure to throw for `err`. IdemErrors keep their retry flag;
 * an ApplicationFailure thrown by a handler keeps its type and flag; any other
 * error (a bug, PostgreSQL down, a timeout of an HTTP call) is retryable.
 */
export function toApplicationFailure(
  err: unknown,
  attempt: number,
  reason = reasonOf(err),
): ApplicationFailure {
  const details: ApplyFailureDetails = {
    reason,
    attempt,
    ...(isStoreUnavailable(err) ? { storeUnavailable: true } : {}),
    ...(err instanceof ClaimHeldError ? { claimHeld: true } : {}),
  };
  if (err instanceof ApplicationFailure) {
    return ApplicationFailure.create({
      type: err.type ?? 'Error',
      message: err.message,
      nonRetryable: err.nonRetryable ?? false,
      details: [details],
      cause: err,
    });
  }
  if (isErrorLike(err)) {
    // A held claim goes back to the workflow at once: it waits without spending attempts.
    // PostgreSQL's data exceptions (SQLSTATE class 22: a value out of range, an invalid text
    // representation, a string too long) fail the same way on every attempt.
    const retriable =
      err instanceof ClaimHeldError || isDataException(err)
        ? false
        : err instanceof IdemError
          ? err.retriable
          : true;
    return ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: !retriable,
      details: [details],
      cause: err,
    });
  }
  return ApplicationFailure.create({
    type: 'Error',
    message: String(err),
    nonRetryable: false,
    details: [details],
  });
}
