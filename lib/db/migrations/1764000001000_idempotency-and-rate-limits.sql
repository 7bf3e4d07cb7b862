-- Up Migration

-- Idempotency-Key on POST /api/v1/ingest: per caller, kept 24 hours.
CREATE TABLE idempotency_keys (
  actor text NOT NULL,
  key text NOT NULL,
  body_hash bytea NOT NULL,
  run_id uuid NOT NULL REFERENCES ingest_runs (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (actor, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
CREATE INDEX idempotency_keys_run ON idempotency_keys (run_id);

-- Token buckets for the per-token request rate, shared by every Lambda instance.
CREATE TABLE rate_limits (
  bucket text PRIMARY KEY,
  tokens double precision NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Takes one token from `bucket` (refilled at per_second up to capacity); returns 0 when the
-- request may proceed, else the seconds until a token is back. One row lock per bucket.
CREATE FUNCTION rate_limit_take(p_bucket text, p_capacity double precision, p_per_second double precision)
RETURNS double precision LANGUAGE plpgsql AS $$
DECLARE
  available double precision;
BEGIN
  INSERT INTO rate_limits (bucket, tokens, updated_at) VALUES (p_bucket, p_capacity, clock_timestamp())
    ON CONFLICT (bucket) DO NOTHING;
  SELECT least(p_capacity, tokens + extract(epoch FROM clock_timestamp() - updated_at) * p_per_second)
    INTO available FROM rate_limits WHERE bucket = p_bucket FOR UPDATE;
  IF available >= 1 THEN
    UPDATE rate_limits SET tokens = available - 1, updated_at = clock_timestamp() WHERE bucket = p_bucket;
    RETURN 0;
  END IF;
  UPDATE rate_limits SET tokens = available, updated_at = clock_timestamp() WHERE bucket = p_bucket;
  RETURN (1 - available) / p_per_second;
END;
$$;

-- A failed run can be re-driven once its fault is fixed; each re-drive is a new execution.
ALTER TABLE ingest_runs ADD COLUMN redrives integer NOT NULL DEFAULT 0;

-- Down Migration

ALTER TABLE ingest_runs DROP COLUMN redrives;
DROP FUNCTION rate_limit_take(text, double precision, double precision);
DROP TABLE rate_limits;
DROP TABLE idempotency_keys;
