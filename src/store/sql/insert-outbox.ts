import { sqlLiteral } from './literal';
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

const INSERT_OUTBOX = 'insert into outbox (topic, message_key, type, source, subject, data, caused_by)';

/** Write one outgoing event in the caller's transaction; returns its seq and id (the published event id). */
export async function insertOutbox(
  tx: Queryable,
  row: OutboxInsertRow,
): Promise<{ seq: string; id: string }> {
  const { rows } = await tx.query<{ seq: string; id: string }>(
    `${INSERT_OUTBOX} values ${outboxValues(row)} returning seq, id`,
  );
  const r = rows[0];
  if (!r) throw new Error('insert into outbox returned no row');
  return r;
}

/**
 * `row` as the SQL text of one row of the outbox's VALUES (literals, no parameters, so that
 * {@link insertOutboxSql}'s statement can share COMMIT's message). Throws what the row cannot be
 * stored for (data that JSON cannot hold, a NUL character) at once, where the row is written,
 * not where the statement is later sent.
 */
export function outboxValues(row: OutboxInsertRow): string {
  // Serialised here: the data is JSON text cast to jsonb, whatever JavaScript value it is.
  const data = row.data === undefined ? null : (JSON.stringify(row.data) ?? null);
  const [topic, key, type, source, subject, json, causedBy] = [
    row.topic,
    row.messageKey,
    row.type,
    row.source,
    row.subject,
    data,
    row.causedBy,
  ].map(sqlLiteral);
  return `(${topic}, ${key}, ${type}, ${source}, ${subject}, ${json}::jsonb, ${causedBy})`;
}

/**
 * One statement, without parameters, that writes the rows of {@link outboxValues} (in order) to
 * the outbox: for rows a transaction buffers and sends in one message with its COMMIT
 * (inTransaction's `beforeCommit`). Undefined when there are none.
 */
export function insertOutboxSql(values: readonly string[]): string | undefined {
  if (values.length === 0) return undefined;
  return `${INSERT_OUTBOX}\n     values ${values.join(',\n            ')}`;
}
