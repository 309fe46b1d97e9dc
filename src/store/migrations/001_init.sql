-- idem's own schema: the durable dedup record and the outbox. Handlers bring their
-- tables in their own migration set (see examples/ledger/migrations).

-- One row per event identity. The primary key is the dedup key (the same string
-- as the event's workflow ID, see src/events/identity.ts): a row with status
-- 'applied' means the event's side effects are committed, in the same
-- transaction as this row, and must never be applied again.
create table processed_events (
  event_id        text primary key,
  source          text not null,
  id              text not null,
  type            text not null,
  event_key       text,
  status          text not null check (status in ('applied', 'dead_lettered')),
  attempts        integer not null default 1,
  workflow_id     text,
  run_id          text,
  kafka_topic     text,
  kafka_partition integer,
  kafka_offset    bigint,
  last_error      text,
  dead_lettered_count integer not null default 0,
  redrive_count   integer not null default 0,
  first_seen_at   timestamptz not null default now(),
  processed_at    timestamptz not null default now()
);
-- Pruning deletes the oldest rows in batches.
create index processed_events_processed_at_idx on processed_events (processed_at);
create index processed_events_not_applied_idx on processed_events (status) where status <> 'applied';

-- Transactional outbox: rows written in a handler's transaction, published to
-- Kafka by the relay (at least once; `id` is the published event's id).
create table outbox (
  seq             bigint generated always as identity primary key,
  id              uuid not null unique default gen_random_uuid(),
  topic           text not null,
  message_key     text,
  type            text not null,
  source          text not null,
  subject         text,
  data            jsonb,
  caused_by       text,
  created_at      timestamptz not null default now(),
  published_at    timestamptz
);
create index outbox_unpublished_idx on outbox (seq) where published_at is null;
