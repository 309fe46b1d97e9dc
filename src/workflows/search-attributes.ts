/**
 * Search attributes on every event workflow, so operators can filter in Temporal
 * Web (for example `IdemOutcome = "dead_lettered"`, `IdemEventKey = "acct-7"` or
 * `IdemStage = "retrying" AND IdemAttempts >= 2`), and the memo key of the last error.
 * The stack registers them (src/stack/temporal.ts); a production namespace needs
 * them too: `temporal operator search-attribute create --name IdemEventType --type Keyword` ...
 * (the worker and the ingester refuse to start without them, naming each command).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** A search attribute's name and type (the SDK's SearchAttributeKey, which its index does not export). */
export type IdemSearchAttribute = ReturnType<typeof defineSearchAttributeKey<SearchAttributeType>>;

export const IdemEventType = defineSearchAttributeKey('IdemEventType', SearchAttributeType.KEYWORD);
export const IdemEventKey = defineSearchAttributeKey('IdemEventKey', SearchAttributeType.KEYWORD);
export const IdemSource = defineSearchAttributeKey('IdemSource', SearchAttributeType.KEYWORD);
/** Set only when not plain success: duplicate | dead_lettered, store_unavailable while PostgreSQL is
 * down (then applied once it is back). A completed workflow without it applied its event. */
export const IdemOutcome = defineSearchAttributeKey('IdemOutcome', SearchAttributeType.KEYWORD);
/** Where the event is, set only off the plain-success path (see {@link Stage}). */
export const IdemStage = defineSearchAttributeKey('IdemStage', SearchAttributeType.KEYWORD);
/** The type of applyEvent's last failure: the error's name as the handler threw it (`Error`,
 * `PermanentHandlerError`, `UnknownEventTypeError`, ...), `TimeoutFailure` for an attempt that
 * ran out of time, `CancelledFailure` for an operator's cancel. Low cardinality: never a message. */
export const IdemErrorClass = defineSearchAttributeKey('IdemErrorClass', SearchAttributeType.KEYWORD);
/** applyEvent's attempts that failed for the event's own reasons (waits for PostgreSQL or for a
 * held claim do not count): the figure the dead-letter record's `idem-attempts` header carries. */
export const IdemAttempts = defineSearchAttributeKey('IdemAttempts', SearchAttributeType.INT);

export const ALL_SEARCH_ATTRIBUTES: IdemSearchAttribute[] = [
  IdemEventType,
  IdemEventKey,
  IdemSource,
  IdemOutcome,
  IdemStage,
  IdemErrorClass,
  IdemAttempts,
];

/** The type names `temporal operator search-attribute create --type` and `start-dev
 * --search-attribute Name=Type` take. */
export const CLI_TYPE_NAMES: Partial<Record<SearchAttributeType, string>> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
};

export type Outcome = 'applied' | 'duplicate' | 'dead_lettered' | 'store_unavailable';

/**
 * IdemStage's values. A plain success (applied at the first attempt) records none, to keep the
 * common path's history short; so does a workflow started before IdemStage existed.
 * - `retrying`: an attempt failed for a reason of the event's; the next waits out its backoff.
 * - `waiting_for_store`: PostgreSQL does not answer; the event waits without spending attempts
 *   (IdemOutcome says `store_unavailable` too).
 * - `waiting_for_claim`: another attempt (a frozen worker's open transaction) holds the event's
 *   claim; it waits for that attempt to end.
 * - `dead_lettering`: attempts exhausted or a permanent failure; the record is being written to
 *   the dead-letter topic (this lasts while Kafka is unreachable).
 * - `dead_lettered`: the record is in `<topic>.dlq`; the run ends failed (or cancelled).
 * - `done`: the event settled after a retry or a wait; IdemOutcome says applied or duplicate.
 */
export const STAGES = [
  'retrying',
  'waiting_for_store',
  'waiting_for_claim',
  'dead_lettering',
  'dead_lettered',
  'done',
] as const;
export type Stage = (typeof STAGES)[number];

/** The memo key holding the last failure of applyEvent, upserted with IdemStage. */
export const LAST_ERROR_MEMO = 'lastError';

/** The memo's `lastError`. */
export interface LastError {
  /** As IdemErrorClass. */
  class: string;
  /** `<class>: <message>`, cut at {@link LAST_ERROR_MAX_CHARS} characters. */
  message: string;
  /** The dead-letter reason the failure would have: handler_failed, unknown_type, ... */
  reason: string;
  /** The attempt that failed; a failure that is not the event's (PostgreSQL down, a held claim)
   * does not use it up, so the same number runs again. */
  attempt: number;
  /** When the workflow saw it (workflow time, ISO 8601). */
  at: string;
}

export const LAST_ERROR_MAX_CHARS = 500;
