-- Records rejected at ingest (no workflow: not parseable, too large, refused by Temporal) whose
-- dead-letter copy is published. A record read again (after a rebalance, a restart before its
-- offset was committed, a replay) finds its row and is not published a second time; the copy is
-- one per offset, with dead-letter id ingest:<topic>:<partition>:<offset>. The remaining window
-- is a crash between the publish and this insert.
create table ingest_rejections (
  topic           text        not null,
  kafka_partition integer     not null,
  kafka_offset    bigint      not null,
  reason          text        not null,
  published_at    timestamptz not null default now(),
  primary key (topic, kafka_partition, kafka_offset)
);
