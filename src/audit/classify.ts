/**
 * The audit's decisions, without I/O: what one offset's facts (its parse, its event's dedup record,
 * parked record and workflow) make of it, and what the dead-letter topic settles for the offsets
 * that need it. The dead-letter topic is read last, after every other fact, so a dead-lettering
 * finished before an offset was looked at is always seen (see audit.ts).
 */
import type { ProcessedSummary } from '../store/sql/find-processed';
import type { ParkedAt } from '../store/sql/find-parked-events';
import { coordsKey, type Coords, type Verdict } from './types';
import type { DlqIndex } from './dlq-index';

/** Temporal statuses of a workflow that has not closed. */
export const OPEN_STATUSES: ReadonlySet<string> = new Set(['RUNNING', 'PAUSED']);

export interface RecordFacts {
  at: Coords;
  /** Before the consumer group's committed offset: the consumer is done with it. */
  consumed: boolean;
  /** The event, when the record parses as the ingester parses it. */
  event?: { dedupKey: string; type: string };
  /** Why the parse rejects it, when it does. */
  rejection?: { reason: string; error: string };
  /** The event's processed_events row. */
  row?: ProcessedSummary;
  /** The event's parked record, when it waits behind its key. */
  parked?: ParkedAt;
  /** Temporal's status of the workflow under the event's dedup key (`RUNNING`, `COMPLETED`,
   * `TERMINATED`, ..., or `NOT_FOUND`); undefined until asked. */
  workflow?: string;
}

/** An offset whose outcome depends on the dead-letter topic. */
export type Pending =
  | { kind: 'rejected'; at: Coords; consumed: boolean; reason: string; error: string }
  | { kind: 'no_outcome'; at: Coords; dedupKey: string; workflow: string }
  | { kind: 'dead_lettered_row'; at: Coords; dedupKey: string; workflowId: string | null };

export type FirstPass = { verdict: Verdict } | { pending: Pending } | { needsWorkflow: true };

/** The record a dedup row names, when it names one. */
export function rowCoords(row: Pick<ProcessedSummary, 'kafkaTopic' | 'kafkaPartition' | 'kafkaOffset'>) {
  return row.kafkaTopic !== null && row.kafkaPartition !== null && row.kafkaOffset !== null
    ? { topic: row.kafkaTopic, partition: row.kafkaPartition, offset: row.kafkaOffset }
    : undefined;
}

const same = (a: Coords, b: Coords) => coordsKey(a) === coordsKey(b);

/**
 * One offset, from the facts gathered so far. Asks for the workflow's status (`needsWorkflow`)
 * only for a consumed event with neither a row nor a parked record.
 */
export function classifyRecord(f: RecordFacts): FirstPass {
  if (!f.event) {
    const { reason, error } = f.rejection ?? { reason: 'invalid_envelope', error: '' };
    return { pending: { kind: 'rejected', at: f.at, consumed: f.consumed, reason, error } };
  }
  const { dedupKey } = f.event;
  if (f.row) {
    const recorded = rowCoords(f.row);
    if (recorded && !same(recorded, f.at)) {
      const of = f.row.status === 'applied' ? 'an applied event' : 'a dead-lettered event';
      return { verdict: { class: 'duplicate', duplicateOf: recorded, detail: `a copy of ${of}` } };
    }
    if (f.row.status === 'applied')
      return { verdict: { class: 'applied', ...(recorded ? {} : { detail: 'its row names no record' }) } };
    return { pending: { kind: 'dead_lettered_row', at: f.at, dedupKey, workflowId: f.row.workflowId } };
  }
  if (f.parked) {
    return same(f.parked, f.at)
      ? { verdict: { class: 'parked', detail: 'waits behind its key’s dead-lettered event' } }
      : { verdict: { class: 'duplicate', duplicateOf: f.parked, detail: 'a copy of a parked event' } };
  }
  if (!f.consumed) return { verdict: { class: 'not_yet_consumed' } };
  if (f.workflow === undefined) return { needsWorkflow: true };
  if (OPEN_STATUSES.has(f.workflow)) return { verdict: { class: 'in_progress' } };
  return { pending: { kind: 'no_outcome', at: f.at, dedupKey, workflow: f.workflow } };
}

/** What the dead-letter topic settles; `running` tells whether a workflow was running when asked
 * (before the dead-letter topic was read). */
export function resolvePending(p: Pending, dlq: DlqIndex, running: (workflowId: string) => boolean): Verdict {
  const ingestId = `ingest:${coordsKey(p.at)}`;
  switch (p.kind) {
    case 'rejected':
      if (dlq.ingestAt(p.at)) return { class: 'dead_lettered', detail: `rejected at ingest: ${p.reason}` };
      if (!p.consumed) return { class: 'not_yet_consumed' };
      return {
        class: 'unaccounted',
        detail: `rejected at ingest (${p.reason}: ${p.error.slice(0, 200)}), but the dead-letter topic holds no record ${ingestId}`,
      };
    case 'no_outcome':
      if (dlq.ingestAt(p.at))
        return { class: 'dead_lettered', detail: 'refused by Temporal, dead-lettered at ingest' };
      return {
        class: 'unaccounted',
        detail:
          `no processed_events row, workflow ${p.workflow === 'NOT_FOUND' ? 'not found' : p.workflow}, ` +
          'not parked, no dead-letter record',
      };
    case 'dead_lettered_row':
      if (dlq.deadLetterings(p.dedupKey).size > 0) return { class: 'dead_lettered' };
      if (p.workflowId !== null && running(p.workflowId))
        return { class: 'in_progress', detail: 'being dead-lettered' };
      return {
        class: 'unaccounted',
        detail: 'processed_events says dead_lettered, but the dead-letter topic holds no record of the event',
      };
  }
}
