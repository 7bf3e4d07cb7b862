-- Up Migration

-- GET /api/v1/runs pages runs newest first by (created_at, id), the id breaking ties between
-- runs created in the same microsecond; a time range reads a slice of the same index.
CREATE INDEX ingest_runs_newest ON ingest_runs (created_at DESC, id DESC);
-- Filtered by status (the failed runs, say), a page reads that status's runs alone, newest first.
CREATE INDEX ingest_runs_status_newest ON ingest_runs (status, created_at DESC, id DESC);
-- Every query that ingest_runs_created_at served, ingest_runs_newest serves.
DROP INDEX ingest_runs_created_at;

-- Down Migration

CREATE INDEX ingest_runs_created_at ON ingest_runs (created_at);
DROP INDEX ingest_runs_status_newest;
DROP INDEX ingest_runs_newest;
