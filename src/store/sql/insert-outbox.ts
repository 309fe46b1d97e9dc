import type { Queryable } from './queryable';

export interface OutboxInsertRow {
  topic: string;
  messageKey: string | null;
  type: string;
  source: string;
  subject: string | null;
  /** Any JSON value; stored as jsonb (undefined is stored as SQL null). */
  data: unknown;
  /** Dedup key of the event whose handler wrote the row. */
  causedBy: string | null;
}

/** Write one outgoing event in the caller's transaction; returns its seq and id (the published event id). */
export async function insertOutbox(
  tx: Queryable,
  row: OutboxInsertRow,
): Promise<{ seq: string; id: string }> {
  // Serialise here: node-postgres would turn a JS array into a PostgreSQL array
  // literal and pass a string through unquoted, neither of which is JSON.
  const data = row.data === undefined ? null : JSON.stringify(row.data);
  const { rows } = await tx.query<{ seq: string; id: string }>(
    `insert into outbox (topic, message_key, type, source, subject, data, caused_by)
     values ($1, $2, $3, $4, $5, $6::jsonb, $7)
     returning seq, id`,
    [row.topic, row.messageKey, row.type, row.source, row.subject, data, row.causedBy],
  );
  const r = rows[0];
  if (!r) throw new Error('insert into outbox returned no row');
  return r;
}
