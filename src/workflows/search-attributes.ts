/**
 * Search attributes on every event workflow, so operators can filter in Temporal
 * Web (for example `IdemOutcome = "dead_lettered"` or `IdemEventKey = "acct-7"`).
 * The stack registers them (src/stack/temporal.ts); a production namespace needs
 * them too: `temporal operator search-attribute create --name IdemEventType --type Keyword` ...
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const IdemEventType = defineSearchAttributeKey('IdemEventType', SearchAttributeType.KEYWORD);
export const IdemEventKey = defineSearchAttributeKey('IdemEventKey', SearchAttributeType.KEYWORD);
export const IdemSource = defineSearchAttributeKey('IdemSource', SearchAttributeType.KEYWORD);
/** Set only when not plain success: duplicate | dead_lettered, store_unavailable while PostgreSQL is
 * down (then applied once it is back). A completed workflow without it applied its event. */
export const IdemOutcome = defineSearchAttributeKey('IdemOutcome', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES = [IdemEventType, IdemEventKey, IdemSource, IdemOutcome];

export type Outcome = 'applied' | 'duplicate' | 'dead_lettered' | 'store_unavailable';
