-- Key parking (with per-key ordering): when an event of a key is dead-lettered, the key's later
-- events wait, parked, until an operator redrives the dead-lettered event (it is then applied)
-- or skips it (`idem dlq skip`). Parked events are held here, not in the consumer's memory or
-- its Kafka offsets: their offsets are committed, so a long-parked key holds nothing else.

-- One row per parked key. blocked_by is the dedup key (processed_events.event_id) of the
-- dead-lettered event the key waits behind; the key is released once that row is `applied`
-- (redriven) or skipped. kafka_partition is where the key's events are read: the consumer that
-- owns that partition releases the key, in the key's order.
create table parked_keys (
  topic           text not null,
  event_key       text not null,
  kafka_partition integer not null,
  blocked_by      text not null,
  parked_at       timestamptz not null default now(),
  primary key (topic, event_key)
);

-- The events waiting behind a parked key, with the workflow input they will be started with.
create table parked_events (
  event_id        text primary key,
  topic           text not null,
  event_key       text not null,
  kafka_partition integer not null,
  kafka_offset    bigint not null,
  input           jsonb not null,
  parked_at       timestamptz not null default now()
);
create index parked_events_key_idx on parked_events (topic, event_key, kafka_offset);

-- An operator's decision to let a dead-lettered event's key go on without it.
alter table processed_events add column skipped_at timestamptz;
