/**
 * idem's error tree. `retriable` says whether trying again can help; activities
 * turn non-retriable errors into non-retryable Temporal failures whose `type` is
 * the error's name, so the workflow's retry policy stops at once.
 */
export class IdemError extends Error {
  readonly retriable: boolean = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** PostgreSQL could not be reached (connection refused, dropped, server shutting down).
 * Never a reason to dead-letter: the workflow keeps retrying until the store is back. */
export class StoreUnavailableError extends IdemError {}

/** A permanent failure: the same input will fail the same way. */
export class NonRetriableError extends IdemError {
  override readonly retriable: boolean = false;
}

/** The Kafka record is not an acceptable event (not JSON, missing attributes, ...). */
export class InvalidEnvelopeError extends NonRetriableError {}

/** No handler is registered for the event's type. */
export class UnknownEventTypeError extends NonRetriableError {}

/** The event's data does not match what its handler expects. */
export class InvalidPayloadError extends NonRetriableError {}

/** A handler's own verdict that retrying is pointless (a business rule refused the event). */
export class PermanentHandlerError extends NonRetriableError {}

/** An argument given by a user (a command-line option, a filter) is malformed; the message says what was expected. */
export class InvalidArgumentError extends NonRetriableError {}

/** Temporal failure types that the workflow's retry policy never retries. */
export const NON_RETRYABLE_TYPES = [
  'InvalidEnvelopeError',
  'UnknownEventTypeError',
  'InvalidPayloadError',
  'PermanentHandlerError',
];
