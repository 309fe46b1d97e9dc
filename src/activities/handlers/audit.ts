/**
 * A handler module's own checks for `idem audit`: idem can show that every offset has one outcome
 * and that processed_events holds one row per event, but only the handlers know their effects.
 * A module that exports `audit` lets the audit ask its tables whether each event applied left its
 * effect once, and an event not applied left none. The checks only read; they run on a pool of the
 * store (DATABASE_URL), outside any consumer's transaction.
 *
 * ```ts
 * export const audit: HandlerAudit = {
 *   // the audited events, a batch at a time: one statement that reads processed_events beside
 *   // your tables, so a transaction committing meanwhile is seen whole or not at all
 *   async checkEvents(db, events) { ... return violations; },
 *   // once at the end: invariants of your tables as a whole (totals match their rows)
 *   async checkTables(db) { ... },
 * };
 * ```
 */
import type { Pool } from 'pg';

/** One event of the audited range (each dedup key once per batch, whatever its outcome). */
export interface AuditedEvent {
  /** The dedup key: `processed_events.event_id`, `ctx.dedupKey` in the handler. */
  dedupKey: string;
  /** The event's type as parsed from its record. */
  type: string;
}

/** Something a check found wrong: an effect missing, doubled, or without an applied event. */
export interface EffectViolation {
  /** A short name for the check, such as `ledger_entry_missing`. */
  check: string;
  /** The event concerned, when there is one. */
  dedupKey?: string;
  /** What is wrong, for an operator. */
  detail: string;
}

export interface HandlerAudit {
  /** Checks the effects of a batch of audited events (at most a few thousand at a time). */
  checkEvents?(db: Pool, events: readonly AuditedEvent[]): Promise<EffectViolation[]>;
  /** Checks the handlers' tables as a whole, once at the end of an audit. */
  checkTables?(db: Pool): Promise<EffectViolation[]>;
}
