import type { Queryable } from './queryable';

/**
 * Which processed_events rows pruning may delete (`idem prune`, src/prune/prune.ts). Rows are
 * compared with cutoffs the caller computed from the database server's clock, so processed_at
 * (written with the server's `now()`) and the cutoffs share one clock.
 */
export interface PruneCutoffs {
  /** Rows processed before this are past the dedup retention (and Temporal's retention). */
  retention: Date;
  /** Dead-lettered rows, and applied rows that were dead-lettered before, are deleted only when
   * processed before the cutoff of their topic's dead-letter topic as well: a record there may
   * still be redriven until it ages out. `null`: the record may be kept for ever (retention.ms
   * -1, a compacted topic), so such rows are kept. */
  deadLetter: { topic: string; cutoff: Date | null }[];
  /** The dead-letter cutoff of rows whose topic is not in `deadLetter` (the strictest known). */
  deadLetterDefault: Date | null;
}

/** Timestamps as PostgreSQL reads them; `-infinity` is older than every row. */
function ts(d: Date | null): string {
  return d === null ? '-infinity' : d.toISOString();
}

function params(c: PruneCutoffs): [string, string[], string[], string] {
  return [
    ts(c.retention),
    c.deadLetter.map((d) => d.topic),
    c.deadLetter.map((d) => ts(d.cutoff)),
    ts(c.deadLetterDefault),
  ];
}

/** Rows that were never dead-lettered: only the dedup retention holds them. */
const NEVER_DEAD_LETTERED = `pe.status = 'applied' and pe.dead_lettered_count = 0 and pe.redrive_count = 0`;

/** The dead-letter cutoff of the row's topic ($2/$3), else $4. */
const DEAD_LETTER_CUTOFF = `coalesce(
  (select c.cutoff from unnest($2::text[], $3::timestamptz[]) as c(topic, cutoff)
    where c.topic = pe.kafka_topic),
  $4::timestamptz)`;

/** A parked key waits until the row it is parked behind says applied or skipped: never delete it. */
const NOT_BLOCKING = `not exists (select 1 from parked_keys pk where pk.blocked_by = pe.event_id)`;

const PRUNABLE = `pe.processed_at < $1::timestamptz
  and ${NOT_BLOCKING}
  and (${NEVER_DEAD_LETTERED} or pe.processed_at < ${DEAD_LETTER_CUTOFF})`;

export interface PruneCounts {
  /** Rows past the retention that may be deleted now. */
  prunable: number;
  /** Rows past the retention kept because a dead-letter record may still redrive them. */
  keptForDeadLetter: number;
  /** Rows past the retention kept because a parked key waits behind them. */
  keptForParkedKey: number;
}

/** What a prune would delete and what it keeps past the retention, in one scan of the old rows. */
export async function countPrunable(q: Queryable, cutoffs: PruneCutoffs): Promise<PruneCounts> {
  const { rows } = await q.query<{ prunable: string; dead_letter: string; parked: string }>(
    `select
       count(*) filter (where ${PRUNABLE}) as prunable,
       count(*) filter (where not ${NOT_BLOCKING}) as parked,
       count(*) filter (where ${NOT_BLOCKING} and not (${NEVER_DEAD_LETTERED})
                          and pe.processed_at >= ${DEAD_LETTER_CUTOFF}) as dead_letter
     from processed_events pe
     where pe.processed_at < $1::timestamptz`,
    params(cutoffs),
  );
  const r = rows[0];
  return {
    prunable: Number(r?.prunable ?? 0),
    keptForDeadLetter: Number(r?.dead_letter ?? 0),
    keptForParkedKey: Number(r?.parked ?? 0),
  };
}

/**
 * Deletes at most `limit` prunable rows, oldest first, in one statement (its own transaction,
 * so a prune never holds many locks for long). Rows locked by a transaction in progress (a
 * redrive claiming a dead-lettered row) are skipped, not waited for. Returns how many it deleted.
 */
export async function deletePrunable(q: Queryable, cutoffs: PruneCutoffs, limit: number): Promise<number> {
  const { rowCount } = await q.query(
    `delete from processed_events where event_id in (
       select pe.event_id from processed_events pe
        where ${PRUNABLE}
        order by pe.processed_at
        limit $5
        for update skip locked)`,
    [...params(cutoffs), limit],
  );
  return rowCount ?? 0;
}

/** Topics of the rows past the retention whose dead-letter topic may hold them back. */
export async function deadLetteredTopics(q: Queryable, retention: Date): Promise<(string | null)[]> {
  const { rows } = await q.query<{ kafka_topic: string | null }>(
    `select distinct pe.kafka_topic from processed_events pe
      where pe.processed_at < $1::timestamptz and not (${NEVER_DEAD_LETTERED})`,
    [retention.toISOString()],
  );
  return rows.map((r) => r.kafka_topic);
}
