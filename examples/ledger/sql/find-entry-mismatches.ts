import type { Queryable } from './queryable';

export interface EntryMismatch {
  dedupKey: string;
  /** processed_events.status, or null when the store has no row for the event. */
  status: 'applied' | 'dead_lettered' | null;
  hasEntry: boolean;
}

/**
 * Of these events, those whose ledger entry does not match their dedup record: applied (and of a
 * ledger type) without an entry, or an entry without being applied. One statement, so an event
 * committing meanwhile is seen with both its row and its entry, or with neither.
 */
export async function findEntryMismatches(
  q: Queryable,
  events: readonly { dedupKey: string; type: string }[],
  ledgerTypes: readonly string[],
): Promise<EntryMismatch[]> {
  if (events.length === 0) return [];
  const { rows } = await q.query<{ event_id: string; status: EntryMismatch['status']; has_entry: boolean }>(
    `select k.event_id, pe.status, le.event_id is not null as has_entry
       from unnest($1::text[], $2::text[]) as k(event_id, type)
       left join processed_events pe on pe.event_id = k.event_id
       left join ledger_entries le on le.event_id = k.event_id
      where (pe.status = 'applied' and k.type = any($3::text[]) and le.event_id is null)
         or (pe.status is distinct from 'applied' and le.event_id is not null)`,
    [events.map((e) => e.dedupKey), events.map((e) => e.type), ledgerTypes],
  );
  return rows.map((r) => ({ dedupKey: r.event_id, status: r.status, hasEntry: r.has_entry }));
}
