-- Up Migration

-- A tenant lists only the runs its subject submitted, newest first: a page reads that
-- submitter's runs alone, however many runs the other tenants have.
CREATE INDEX ingest_runs_submitter_newest ON ingest_runs (actor, created_at DESC, id DESC);

-- Down Migration

DROP INDEX ingest_runs_submitter_newest;
