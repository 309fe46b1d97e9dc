/**
 * The dead-letter topics as the audit asks them: was the record at these coordinates rejected at
 * ingest, and which dead-letterings (distinct `idem-dead-letter-id`s of workflow runs) does an
 * event have. Built from `readDlq`'s entries, whose copies of one dead-lettering are collapsed.
 */
import { dedupKeyOf, type DlqEntry } from '../dlq/reader';
import { coordsKey, type Coords } from './types';

export interface DlqIndex {
  /** A record rejected at ingest at these coordinates is in the dead-letter topic. */
  ingestAt(at: Coords): boolean;
  /** The event's dead-letterings by workflow runs (their `idem-dead-letter-id`s). */
  deadLetterings(dedupKey: string): ReadonlySet<string>;
  /** Every event dead-lettered by a run, with the record its run processed. */
  deadLetteredEvents(): Iterable<{ dedupKey: string; at?: Coords }>;
}

const NONE: ReadonlySet<string> = new Set();

function originalOf(e: DlqEntry): Coords | undefined {
  const { originalTopic: topic, originalPartition: partition, originalOffset: offset } = e.info;
  return topic !== undefined && partition !== undefined && offset !== undefined
    ? { topic, partition, offset }
    : undefined;
}

export function buildDlqIndex(entries: Iterable<DlqEntry>): DlqIndex {
  const ingest = new Set<string>();
  const byEvent = new Map<string, { ids: Set<string>; at?: Coords }>();
  for (const e of entries) {
    const at = originalOf(e);
    const id = e.info.deadLetterId;
    const byRun = e.info.runId !== undefined || id?.startsWith('run:') === true;
    if (!byRun) {
      // Rejected at ingest (no run): one per record, by its original coordinates.
      if (at) ingest.add(coordsKey(at));
      continue;
    }
    const dedupKey = dedupKeyOf(e);
    if (dedupKey === undefined) continue;
    const entry = byEvent.get(dedupKey) ?? { ids: new Set<string>(), ...(at ? { at } : {}) };
    // Records written before the id existed: each its own dead-lettering.
    entry.ids.add(id ?? (e.info.runId ? `run:${e.info.runId}` : `record:${e.dlqPartition}:${e.dlqOffset}`));
    byEvent.set(dedupKey, entry);
  }
  return {
    ingestAt: (at) => ingest.has(coordsKey(at)),
    deadLetterings: (dedupKey) => byEvent.get(dedupKey)?.ids ?? NONE,
    *deadLetteredEvents() {
      for (const [dedupKey, { at }] of byEvent) yield { dedupKey, ...(at ? { at } : {}) };
    },
  };
}
