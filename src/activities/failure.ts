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
import { isStoreError } from '../store/store-error';
import type { ApplyFailureDetails } from '../workflows/types';

/** SQLSTATE classes and codes, and socket errors, that mean "the database is not reachable". */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const UNAVAILABLE_MESSAGES = [
  /Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  // pg's client-side query_timeout: no answer at all (packets dropped, server frozen)
  /Query read timeout/i,
];

/**
 * True when `err` says PostgreSQL is down or unreachable, rather than anything about the event:
 * a connection failure raised by the store's own connection (store-error.ts). The same failure
 * from a handler's call to another service (its HTTP client's ECONNREFUSED) is the handler's.
 */
export function isStoreUnavailable(err: unknown): boolean {
  return isStoreError(err) && looksUnavailable(err);
}

function looksUnavailable(err: unknown): boolean {
  if (!isErrorLike(err)) return false;
  const code = (err as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code))
  ) {
    return true;
  }
  const inner = (err as { errors?: unknown }).errors;
  if (Array.isArray(inner) && inner.some(looksUnavailable)) return true;
  return UNAVAILABLE_MESSAGES.some((re) => re.test(err.message));
}

/** An Error, also one from another realm (`instanceof Error` fails for errors made by Node's
 * own modules inside a sandbox such as Jest's). */
function isErrorLike(err: unknown): err is Error {
  return (
    err instanceof Error ||
    (typeof err === 'object' &&
      err !== null &&
      typeof (err as Error).message === 'string' &&
      typeof (err as Error).name === 'string')
  );
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
    const retriable = err instanceof ClaimHeldError ? false : err instanceof IdemError ? err.retriable : true;
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
