import { lastResult, sqlLiteral } from './literal';
import type { Queryable } from './queryable';

export interface ClaimEventRow {
  /** The dedup key (`dedupKeyFor(source, id)`), primary key of processed_events (`event_id`). */
  dedupKey: string;
  source: string;
  /** The CloudEvent `id`. */
  id: string;
  type: string;
  eventKey: string | null;
  attempt: number;
  workflowId: string | null;
  runId: string | null;
  kafkaTopic: string;
  kafkaPartition: number;
  kafkaOffset: string;
  /** An operator's redrive: an event recorded as dead-lettered may be claimed. */
  redrive: boolean;
  /** A run an operator's reset created: claims the event like a first run when it has no row (it
   * never reached an outcome), and like a redrive when its row says dead-lettered. */
  reset?: boolean;
}

export type ClaimResult =
  | { claimed: true; kind: 'new' | 'redriven'; redriveCount: number }
  /** A duplicate; `noRecord` when a redrive found no row at all (pruned, or never dead-lettered). */
  | { claimed: false; noRecord?: true };

/**
 * The second dedup layer, in one statement: record the event as applied unless it
 * already is (or is dead-lettered and this is not a redrive).
 *
 * Run it first in the transaction that applies the event's side effects. A
 * concurrent transaction that claimed the same event and has not committed yet
 * holds the row's index entry: this insert waits for it, then (read committed)
 * re-checks the committed row, so two concurrent runs of one event serialise here
 * and exactly one of them gets `claimed: true`. If the other rolls back, the
 * insert goes ahead.
 *
 * A redrive claims only a row recorded as dead-lettered, never a missing one: once rows are
 * pruned, an old dead-letter record (perhaps published for an event that was in fact applied,
 * the publish's at-least-once window) must not apply again. Its claim returns `noRecord`.
 *
 * Returns `claimed: false` for a duplicate: the caller must roll back and skip
 * the side effects.
 */
export async function claimEvent(
  tx: Queryable,
  row: ClaimEventRow,
  opts: ClaimOptions = {},
): Promise<ClaimResult> {
  if (row.redrive) {
    if (opts.begin) await tx.query('begin');
    return claimDeadLettered(tx, row);
  }
  const claim = await claimNew(tx, row, opts.begin === true);
  return !claim.claimed && row.reset ? claimDeadLettered(tx, row) : claim;
}

export interface ClaimOptions {
  /**
   * The claim opens the transaction: BEGIN goes in the same message as the first claim statement
   * (one round trip less), for a caller whose transaction sent nothing before it
   * (`inTransaction`'s `begunByFirstStatement`). The statement runs only once BEGIN has: a message
   * of several statements is parsed whole before any runs, and stops at the first error.
   */
  begin?: boolean;
}

async function claimNew(tx: Queryable, row: ClaimEventRow, begin: boolean): Promise<ClaimResult> {
  // A row, applied or dead-lettered, means a duplicate: `do nothing` waits for a concurrent
  // claimer's commit and then reports the conflict. Literals, not parameters: so it can share
  // BEGIN's message (sqlLiteral keeps every value inside its quotes).
  const [key, source, id, type, eventKey, attempt, workflowId, runId, topic, partition, offset] = [
    row.dedupKey,
    row.source,
    row.id,
    row.type,
    row.eventKey,
    ...thisRun(row),
  ].map(sqlLiteral);
  const insert = `insert into processed_events
       (event_id, source, id, type, event_key, status, attempts, workflow_id, run_id,
        kafka_topic, kafka_partition, kafka_offset, redrive_count)
     values (${key}, ${source}, ${id}, ${type}, ${eventKey}, 'applied', ${attempt}, ${workflowId},
             ${runId}, ${topic}, ${partition}, ${offset}, 0)
     on conflict (event_id) do nothing`;
  const { rowCount } = lastResult(await tx.query(begin ? `begin;\n${insert}` : insert));
  return rowCount === 1 ? { claimed: true, kind: 'new', redriveCount: 0 } : { claimed: false };
}

/** What a claim records of the run that makes it: attempt, workflow, run, Kafka coordinates. */
function thisRun(row: ClaimEventRow): (string | number | null)[] {
  return [row.attempt, row.workflowId, row.runId, row.kafkaTopic, row.kafkaPartition, row.kafkaOffset];
}

/** A redrive's claim: the dead-lettered row becomes applied; nothing else is claimed. The
 * row lock taken by the update serialises concurrent redrives as the insert does above. */
async function claimDeadLettered(tx: Queryable, row: ClaimEventRow): Promise<ClaimResult> {
  const { rows } = await tx.query<{ redrive_count: number }>(
    `update processed_events set
       status = 'applied',
       attempts = $2,
       workflow_id = $3,
       run_id = $4,
       kafka_topic = $5,
       kafka_partition = $6,
       kafka_offset = $7,
       redrive_count = redrive_count + 1,
       processed_at = now()
     where event_id = $1 and status = 'dead_lettered'
     returning redrive_count`,
    [row.dedupKey, ...thisRun(row)],
  );
  const r = rows[0];
  if (r) return { claimed: true, kind: 'redriven', redriveCount: r.redrive_count };
  const exists = await tx.query('select 1 from processed_events where event_id = $1', [row.dedupKey]);
  return exists.rowCount === 0 ? { claimed: false, noRecord: true } : { claimed: false };
}
