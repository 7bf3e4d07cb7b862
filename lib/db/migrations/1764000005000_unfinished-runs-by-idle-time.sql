-- Up Migration

-- The run reconciler looks for runs still queued or running that no stage has advanced for a
-- while; unfinished runs are few beside the finished ones, so the index holds only them.
CREATE INDEX ingest_runs_unfinished_by_update ON ingest_runs (updated_at)
  WHERE status IN ('queued', 'running');

-- Down Migration

DROP INDEX ingest_runs_unfinished_by_update;
