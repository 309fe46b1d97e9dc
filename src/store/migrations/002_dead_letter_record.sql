-- Dead-lettering details on the dedup record.
--
-- last_reason: the DlqReason of the last dead-lettering (`idem-reason`), so that
--   operators can filter in SQL without reading the dead-letter topic.
-- dlq_topic / dlq_partition / dlq_offset: where the run in `run_id` published the
--   record to the dead-letter topic. A retried deadLetter activity of the same run
--   finds them set and does not publish a second copy. They are cleared when a
--   different run dead-letters the event again.
alter table processed_events
  add column last_reason   text,
  add column dlq_topic     text,
  add column dlq_partition integer,
  add column dlq_offset    bigint;
