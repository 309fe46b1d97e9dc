-- `idem prune` deletes the rows of rejected records past the dedup retention, oldest first, a
-- batch per statement: by published_at, without reading the whole table for each batch.
create index ingest_rejections_published_at on ingest_rejections (published_at);
