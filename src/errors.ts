/**
 * idem's error tree, in the manner of kafkajs's `KafkaJSError`: one base class
 * with a `retriable` flag, checked with `instanceof`. Activities turn
 * non-retriable errors into non-retryable Temporal failures whose `type` is the
 * error's name, so the workflow's retry policy stops at once.
 *
 * This module is also bundled into workflow code: no imports, no I/O.
 */
export class IdemError extends Error {
  readonly retriable: boolean = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A permanent failure: the same input will fail the same way. */
export class NonRetriableError extends IdemError {
  override readonly retriable: boolean = false;
}

// --- The event itself is at fault: it is dead-lettered, never retried. ---

/** Processing this event again cannot succeed; it goes to the dead-letter topic. */
export class EventRejectedError extends NonRetriableError {}

/** The Kafka record is not an acceptable event (not JSON, missing attributes, ...). */
export class InvalidEnvelopeError extends EventRejectedError {}

/** No handler is registered for the event's type. */
export class UnknownEventTypeError extends EventRejectedError {}

/** The event's data does not match what its handler expects. */
export class InvalidPayloadError extends EventRejectedError {}

/** A handler's own verdict that retrying is pointless (a business rule refused the event). */
export class PermanentHandlerError extends EventRejectedError {}

/**
 * Temporal failure types that the workflow's retry policy never retries: every
 * {@link EventRejectedError} class above (test/unit/errors.test.ts checks that
 * none is missing).
 */
export const NON_RETRYABLE_TYPES: readonly string[] = [
  EventRejectedError,
  InvalidEnvelopeError,
  UnknownEventTypeError,
  InvalidPayloadError,
  PermanentHandlerError,
].map((c) => c.name);

// --- The store. ---

/** A migration failed; it was rolled back, and the next start tries it again. */
export class MigrationError extends IdemError {}

/**
 * Another attempt at the same event holds its claim in a transaction that has not ended: a worker
 * that froze or lost its connection mid-attempt (its workflow moved to another worker), or an
 * attempt that outlived its timeout. Not the event's fault: the workflow waits and tries again,
 * without counting the attempt, until that transaction commits (a duplicate) or goes.
 */
export class ClaimHeldError extends IdemError {}

/** A transaction ended in ROLLBACK at COMMIT: a statement failed inside it and its error was caught. */
export class TransactionRolledBackError extends IdemError {}

// --- Something the user fixes: the CLI prints the message alone, no stack trace. ---

/** A problem the user fixes (configuration, arguments, the local stack); its message says how. */
export class UserError extends NonRetriableError {}

/** An environment variable (or `.env`) is invalid. */
export class ConfigError extends UserError {}

/** The handler module (`--handlers`, `IDEM_HANDLERS`) is missing, cannot be loaded or registers nothing. */
export class HandlersModuleError extends ConfigError {}

/** A command-line argument is invalid. */
export class InvalidArgumentError extends UserError {}

/** The local stack (`idem stack …`) could not be provisioned or started. */
export class StackError extends UserError {}

// --- Payload encryption (src/temporal/encryption-codec.ts). ---

/** An encrypted payload cannot be read: its key id is not configured, or it fails authentication
 * (altered, or encrypted with another key of that id). No retry helps; the message says which key. */
export class PayloadDecryptionError extends NonRetriableError {}

// --- Control flow inside the ingester. ---

/** A retry loop gave up because its owner is stopping (shutdown, or the partition was revoked). */
export class StoppedError extends IdemError {}

/** A key sequencer was cleared (rebalance or shutdown) before a queued task ran. */
export class SequencerAbandonedError extends IdemError {
  constructor(readonly key: string) {
    super(`task for key ${JSON.stringify(key)} abandoned before it started`);
  }
}
