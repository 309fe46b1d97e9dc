import type { OutboxInsertRow } from './insert-outbox';
import type { Queryable } from './queryable';

/** An outbox row as stored: what was inserted, plus its order, id and time. */
export type OutboxRow = OutboxInsertRow & {
  /** Insertion order (bigint, as a decimal string). */
  seq: string;
  /** uuid: the id of the published CloudEvent. */
  id: string;
  createdAt: Date;
};

/**
 * Lock and return up to `limit` unpublished rows, oldest first. Rows locked by
 * another relay's open transaction are skipped, so relays running at once never
 * publish the same row while both are alive. Call inside a transaction and keep
 * it open until the rows are published and marked.
 */
export async function fetchUnpublishedOutbox(tx: Queryable, limit: number): Promise<OutboxRow[]> {
  const { rows } = await tx.query<{
    seq: string;
    id: string;
    topic: string;
    message_key: string | null;
    type: string;
    source: string;
    subject: string | null;
    data: unknown;
    caused_by: string | null;
    created_at: Date;
  }>(
    `select seq, id, topic, message_key, type, source, subject, data, caused_by, created_at
       from outbox
      where published_at is null and failed_at is null
      order by seq
      limit $1
      for update skip locked`,
    [limit],
  );
  return rows.map((r) => ({
    seq: r.seq,
    id: r.id,
    topic: r.topic,
    messageKey: r.message_key,
    type: r.type,
    source: r.source,
    subject: r.subject,
    data: r.data,
    causedBy: r.caused_by,
    createdAt: r.created_at,
  }));
}
