-- An outbox row Kafka refuses for good (a topic that does not exist, a message over the topic's
-- size limit) is moved aside with its error instead of holding up every row behind it. An
-- operator fixes the cause and requeues it: update outbox set failed_at = null where seq = ...
alter table outbox add column failed_at timestamptz, add column last_error text;
