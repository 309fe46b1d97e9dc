/** One SQL statement per function (graphile-worker style). */
export type { Queryable } from './queryable';
export { claimEvent, type ClaimEventRow, type ClaimOptions, type ClaimResult } from './claim-event';
export {
  markDeadLettered,
  type MarkDeadLetteredRow,
  type MarkDeadLetteredResult,
} from './mark-dead-lettered';
export { recordDeadLetterPublished, type DeadLetterPublishedRow } from './record-dead-letter-published';
export { insertOutbox, type OutboxInsertRow } from './insert-outbox';
export { fetchUnpublishedOutbox, type OutboxRow } from './fetch-unpublished-outbox';
export { markOutboxPublished } from './mark-outbox-published';
export { countOutbox } from './count-outbox';
export { countOutboxBacklog } from './count-outbox-backlog';
export { markOutboxFailed } from './mark-outbox-failed';
export { getProcessedEvent, type ProcessedEvent } from './get-processed-event';
export { findApplied } from './find-applied';
export { findSettled } from './find-settled';
