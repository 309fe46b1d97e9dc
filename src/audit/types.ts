/** What `idem audit` finds: the outcome of each offset, and the report it adds up to. */
import type { EffectViolation } from '../activities/handlers/audit';

/** Where a record is: topic, partition, offset (a decimal string, as kafkajs gives it). */
export interface Coords {
  topic: string;
  partition: number;
  offset: string;
}

export const coordsKey = (c: Coords): string => `${c.topic}:${c.partition}:${c.offset}`;

/**
 * The outcome of one offset:
 * - `applied`: its event's processed_events row is `applied` and names this offset;
 * - `duplicate`: its event's row (or parked record) names another offset: another copy of the
 *   event carries the outcome;
 * - `dead_lettered`: its event's row is `dead_lettered` and names this offset, and the dead-letter
 *   topic holds the record; or it was rejected at ingest and `<topic>.dlq` holds
 *   `ingest:<topic>:<partition>:<offset>`;
 * - `parked`: it waits durably behind its key's dead-lettered event (`parked_events`);
 * - `in_progress`: no outcome yet, but its workflow is running;
 * - `not_yet_consumed`: no outcome, at or past the consumer group's committed offset;
 * - `unaccounted`: none of these: what the audit exists to find.
 */
export type OffsetClass =
  'applied' | 'duplicate' | 'dead_lettered' | 'parked' | 'in_progress' | 'not_yet_consumed' | 'unaccounted';

export const OFFSET_CLASSES: readonly OffsetClass[] = [
  'applied',
  'duplicate',
  'dead_lettered',
  'parked',
  'in_progress',
  'not_yet_consumed',
  'unaccounted',
];

/**
 * What a duplicate is a copy of, when the record that carries its event's outcome was read too:
 * - `producer_retry`: the same key, value, headers and timestamp: one send delivered twice (a
 *   producer retry without idempotence);
 * - `sent_again`: the same key, value and headers, another timestamp: the producer sent the event
 *   again;
 * - `other_content`: the same identity (source, id) with other bytes: its content was not applied;
 * - `not_read`: that record is outside the audited range.
 * Kafka's own redelivery to a consumer re-reads the same offset, so it never shows as a duplicate
 * offset; which dedup layer dropped a copy is counted by idem_duplicates_total{layer}, not stored.
 */
export type DuplicateCause = 'producer_retry' | 'sent_again' | 'other_content' | 'not_read';

/** An offset's verdict, with what explains it. */
export interface Verdict {
  class: OffsetClass;
  /** Why, in a few words (always set for `unaccounted`). */
  detail?: string;
  /** For a duplicate: the record its event's outcome is recorded for. */
  duplicateOf?: Coords;
}

/** A finding against "no effect applied twice": idem's own (the store against the dead-letter
 * topic) or a handler module's (`HandlerAudit`). */
export interface AuditViolation extends EffectViolation {
  /** The record of the event, when known. */
  at?: Coords;
  /** `idem`, or the handler module that reported it. */
  by: string;
}

export interface UnaccountedOffset extends Coords {
  /** The event's dedup key, when the record parsed. */
  dedupKey?: string;
  detail: string;
}

/** The counts of one partition (or of all). */
export type ClassCounts = Record<OffsetClass, number> & {
  /** Records in the range: read, plus those past the committed offset left unread. */
  records: number;
  /** Violations attributed to this partition's records. */
  doubleEffects: number;
};

export interface PartitionReport extends ClassCounts {
  topic: string;
  partition: number;
  /** First offset audited (the beginning, or the first at or after --since). */
  start: string;
  /** Offset the reading stopped before (the committed offset, or the end with --to-end). */
  end: string;
  /** The consumer group's committed offset; undefined when it has none. */
  committed?: string;
  /** The partition's end (high watermark) when the audit began. */
  high: string;
}

export interface AuditReport {
  /** True when every offset is accounted for (nothing unaccounted) and nothing was doubled. */
  ok: boolean;
  groupId: string;
  topics: string[];
  since?: string;
  toEnd: boolean;
  partitions: PartitionReport[];
  total: ClassCounts;
  duplicateCauses: Record<DuplicateCause, number>;
  /** The first `limit` unaccounted offsets. */
  unaccounted: UnaccountedOffset[];
  /** The first `limit` violations. */
  violations: AuditViolation[];
  /** Which handler checks ran: `examples/ledger (checkEvents, checkTables)`, or why none. */
  handlerChecks: string;
  elapsedMs: number;
}
