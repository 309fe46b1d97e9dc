/**
 * Skip: an operator's decision that a dead-lettered event will not be processed, so the later
 * events of its key that key parking holds go on without it. The event stays dead-lettered (its
 * record stays in the dead-letter topic, and it can still be redriven); the store records the
 * skip, and the consumer owning the key's partition then releases the key's parked events in
 * order (within about a second).
 */
import { skipDeadLettered } from '../store/sql/key-parking';
import type { Queryable } from '../store/sql/queryable';
import { dedupKeyOf, type DlqEntry } from './reader';

export type SkipStatus = 'skipped' | 'already_skipped' | 'applied' | 'not_an_event' | 'not_in_store';

export interface SkipItem {
  entry: DlqEntry;
  status: SkipStatus;
  dedupKey?: string;
}

export async function skip(
  q: Queryable,
  entries: DlqEntry[],
  opts: { onItem?: (item: SkipItem) => void } = {},
): Promise<SkipItem[]> {
  const items: SkipItem[] = [];
  for (const entry of entries) {
    const dedupKey = dedupKeyOf(entry);
    let item: SkipItem;
    if (dedupKey === undefined) {
      // Rejected at ingest (no event identity): it never held its key.
      item = { entry, status: 'not_an_event' };
    } else {
      const status = await skipDeadLettered(q, dedupKey);
      item = { entry, dedupKey, status: status ?? 'not_in_store' };
    }
    items.push(item);
    opts.onItem?.(item);
  }
  return items;
}
