import type { Queryable } from './queryable';

/**
 * Key parking's statements (one per function; see migrations/003_key_parking.sql). A key is
 * parked behind a dead-lettered event; its later events are parked behind it, and released in
 * offset order once that event is applied (redriven) or skipped.
 */

export interface ParkedKeyRef {
  topic: string;
  key: string;
}

export interface ParkedEventRow extends ParkedKeyRef {
  eventId: string;
  partition: number;
  offset: string;
  /** The workflow input the event is started with once its key is released. */
  input: unknown;
}

/** The parked keys of one partition: read once per consumer generation. */
export async function parkedKeysOf(q: Queryable, topic: string, partition: number): Promise<Set<string>> {
  const { rows } = await q.query<{ event_key: string }>(
    'select event_key from parked_keys where topic = $1 and kafka_partition = $2',
    [topic, partition],
  );
  return new Set(rows.map((r) => r.event_key));
}

/**
 * Parks a key behind its dead-lettered event, unless an operator skipped that event (or it is
 * no longer dead-lettered). Returns whether the key is parked now, behind this event or an
 * earlier one.
 */
export async function parkKey(
  q: Queryable,
  k: ParkedKeyRef & { partition: number; blockedBy: string },
): Promise<boolean> {
  const { rows } = await q.query<{ parked: boolean }>(
    `with parked as (
       insert into parked_keys (topic, event_key, kafka_partition, blocked_by)
       select $1, $2, $3, $4 from processed_events
        where event_id = $4 and status = 'dead_lettered' and skipped_at is null
       on conflict (topic, event_key) do nothing
       returning 1)
     select exists (select 1 from parked)
         or exists (select 1 from parked_keys where topic = $1 and event_key = $2) as parked`,
    [k.topic, k.key, k.partition, k.blockedBy],
  );
  return rows[0]?.parked === true;
}

/**
 * Parks an event behind its key if the key is still parked (its row locked, so a release that
 * is emptying the key either sees this event or has already unparked the key). Returns false
 * when the key is not parked, or parked behind this very event (a redelivered copy of it): the
 * event goes on normally (a copy of the blocker settles as dead-lettered and parks the key again).
 */
export async function parkEvent(q: Queryable, e: ParkedEventRow): Promise<boolean> {
  const { rows } = await q.query<{ parked: boolean }>(
    `with k as (
       select blocked_by from parked_keys where topic = $2 and event_key = $3 for update),
     ins as (
       insert into parked_events (event_id, topic, event_key, kafka_partition, kafka_offset, input)
       select $1, $2, $3, $4, $5, $6 from k where k.blocked_by <> $1
       on conflict (event_id) do nothing
       returning 1)
     select exists (select 1 from k where k.blocked_by <> $1) as parked`,
    [e.eventId, e.topic, e.key, e.partition, e.offset, JSON.stringify(e.input)],
  );
  return rows[0]?.parked === true;
}

/** Parked keys whose blocking event was applied (redriven) or skipped: ready to release. */
export async function releasableKeys(
  q: Queryable,
  limit = 100,
): Promise<(ParkedKeyRef & { partition: number })[]> {
  const { rows } = await q.query<{ topic: string; event_key: string; kafka_partition: number }>(
    `select k.topic, k.event_key, k.kafka_partition
       from parked_keys k join processed_events pe on pe.event_id = k.blocked_by
      where pe.status = 'applied' or pe.skipped_at is not null
      order by k.parked_at
      limit $1`,
    [limit],
  );
  return rows.map((r) => ({ topic: r.topic, key: r.event_key, partition: r.kafka_partition }));
}

/** The key's first parked event, in offset order. */
export async function nextParkedEvent(q: Queryable, k: ParkedKeyRef): Promise<ParkedEventRow | undefined> {
  const { rows } = await q.query<{
    event_id: string;
    kafka_partition: number;
    kafka_offset: string;
    input: unknown;
  }>(
    `select event_id, kafka_partition, kafka_offset::text, input from parked_events
      where topic = $1 and event_key = $2
      order by kafka_offset limit 1`,
    [k.topic, k.key],
  );
  const r = rows[0];
  return r
    ? { ...k, eventId: r.event_id, partition: r.kafka_partition, offset: r.kafka_offset, input: r.input }
    : undefined;
}

/** A released event settled as applied: it no longer waits. */
export async function deleteParkedEvent(q: Queryable, eventId: string): Promise<void> {
  await q.query('delete from parked_events where event_id = $1', [eventId]);
}

/**
 * A released event was dead-lettered in its turn: the key stays parked, now behind it (and it
 * no longer waits itself).
 */
export async function reparkKey(q: Queryable, k: ParkedKeyRef & { blockedBy: string }): Promise<void> {
  await q.query(
    `with moved as (
       update parked_keys set blocked_by = $3, parked_at = now()
        where topic = $1 and event_key = $2
       returning 1)
     delete from parked_events where event_id = $3 and exists (select 1 from moved)`,
    [k.topic, k.key, k.blockedBy],
  );
}

/** Unparks the key if nothing waits behind it any more; false when something does. */
export async function unparkKey(q: Queryable, k: ParkedKeyRef): Promise<boolean> {
  const { rowCount } = await q.query(
    `delete from parked_keys
      where topic = $1 and event_key = $2
        and not exists (select 1 from parked_events where topic = $1 and event_key = $2)`,
    [k.topic, k.key],
  );
  if ((rowCount ?? 0) > 0) return true;
  const { rows } = await q.query<{ gone: boolean }>(
    'select not exists (select 1 from parked_keys where topic = $1 and event_key = $2) as gone',
    [k.topic, k.key],
  );
  return rows[0]?.gone === true;
}

/** Every parked key with what it waits behind and how many events wait (for `idem dlq list`). */
export async function listParkedKeys(q: Queryable): Promise<
  (ParkedKeyRef & {
    partition: number;
    blockedBy: string;
    waiting: number;
    since: Date;
    released: boolean;
  })[]
> {
  const { rows } = await q.query<{
    topic: string;
    event_key: string;
    kafka_partition: number;
    blocked_by: string;
    waiting: number;
    parked_at: Date;
    released: boolean;
  }>(
    `select k.topic, k.event_key, k.kafka_partition, k.blocked_by, k.parked_at,
            (select count(*)::int from parked_events e
              where e.topic = k.topic and e.event_key = k.event_key) as waiting,
            coalesce(pe.status = 'applied' or pe.skipped_at is not null, false) as released
       from parked_keys k left join processed_events pe on pe.event_id = k.blocked_by
      order by k.topic, k.kafka_partition, k.parked_at`,
  );
  return rows.map((r) => ({
    topic: r.topic,
    key: r.event_key,
    partition: r.kafka_partition,
    blockedBy: r.blocked_by,
    waiting: r.waiting,
    since: r.parked_at,
    released: r.released,
  }));
}

/** Parked keys and parked events in all (for the gauges). */
export async function countParked(q: Queryable): Promise<{ keys: number; events: number }> {
  const { rows } = await q.query<{ keys: number; events: number }>(
    `select (select count(*)::int from parked_keys) as keys,
            (select count(*)::int from parked_events) as events`,
  );
  return rows[0] ?? { keys: 0, events: 0 };
}

/**
 * An operator's skip of a dead-lettered event: its key's parked events are released without it.
 * Returns the event's status before, or undefined when the store has no such event.
 */
export async function skipDeadLettered(
  q: Queryable,
  eventId: string,
): Promise<'skipped' | 'already_skipped' | 'applied' | undefined> {
  const { rows } = await q.query<{ status: string; skipped_before: boolean }>(
    `update processed_events pe set skipped_at = coalesce(pe.skipped_at, now())
       from (select event_id, skipped_at is not null as skipped_before from processed_events
              where event_id = $1 for update) old
      where pe.event_id = old.event_id
     returning pe.status, old.skipped_before`,
    [eventId],
  );
  const r = rows[0];
  if (!r) return undefined;
  if (r.status === 'applied') return 'applied';
  return r.skipped_before ? 'already_skipped' : 'skipped';
}
