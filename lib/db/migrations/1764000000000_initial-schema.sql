-- Up Migration

-- Wrapped data keys: one per run, and the blind-index key. Only ciphertext of keys lives here.
CREATE TABLE data_keys (
  id uuid PRIMARY KEY,
  purpose text NOT NULL CHECK (purpose IN ('run', 'blind-index')),
  master_key_id text NOT NULL,
  encrypted_key bytea NOT NULL,
  encryption_context jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- One blind-index key for the whole store; concurrent first runs race on this index.
CREATE UNIQUE INDEX data_keys_single_blind_index_key ON data_keys (purpose)
  WHERE purpose = 'blind-index';

CREATE TABLE ingest_runs (
  id uuid PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
  current_stage text,
  format text NOT NULL CHECK (format IN ('flat', 'fhir-bundle', 'ndjson')),
  source text NOT NULL,
  actor text NOT NULL,
  data_key_id uuid NOT NULL REFERENCES data_keys (id),
  counts jsonb NOT NULL DEFAULT '{}'::jsonb,
  stage_timings jsonb NOT NULL DEFAULT '{}'::jsonb,
  error_code text,
  idempotency_key text,
  body_hash bytea,
  published_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX ingest_runs_created_at ON ingest_runs (created_at);

-- The claim check: each stage's output, encrypted under the run's data key.
CREATE TABLE stage_payloads (
  run_id uuid NOT NULL REFERENCES ingest_runs (id) ON DELETE CASCADE,
  stage text NOT NULL,
  ciphertext bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, stage)
);

CREATE TABLE patients (
  -- Derived from mrn_bidx (keyed HMAC), so the primary key is also the MRN's uniqueness:
  -- one unique index only, or concurrent first inserts of an MRN fail on the second one.
  id uuid PRIMARY KEY,
  mrn_bidx bytea NOT NULL,
  ssn_bidx bytea,
  mrn_enc bytea NOT NULL,
  name_enc bytea,
  birth_date_enc bytea,
  ssn_enc bytea,
  address_enc bytea,
  telecom_enc bytea,
  source_enc bytea,
  gender text CHECK (gender IN ('male', 'female', 'other', 'unknown')),
  -- Keyed digest of the canonical record: re-ingesting identical data changes nothing.
  record_digest bytea NOT NULL,
  data_key_id uuid NOT NULL REFERENCES data_keys (id),
  created_run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  updated_run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patients_mrn_bidx ON patients (mrn_bidx);
CREATE INDEX patients_ssn_bidx ON patients (ssn_bidx) WHERE ssn_bidx IS NOT NULL;
-- Foreign keys to runs: removing an old run must not scan the whole table.
CREATE INDEX patients_created_run ON patients (created_run_id);
CREATE INDEX patients_updated_run ON patients (updated_run_id);

CREATE TABLE consents (
  patient_id uuid PRIMARY KEY REFERENCES patients (id) ON DELETE CASCADE,
  data_sharing boolean NOT NULL,
  research boolean NOT NULL,
  source text NOT NULL,
  recorded_at timestamptz NOT NULL,
  recorded_by text NOT NULL,
  run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX consents_run ON consents (run_id);

CREATE TABLE consent_history (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  patient_id uuid NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  data_sharing boolean NOT NULL,
  research boolean NOT NULL,
  source text NOT NULL,
  recorded_at timestamptz NOT NULL,
  recorded_by text NOT NULL,
  run_id uuid,
  changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_history_patient ON consent_history (patient_id, id);

-- Every change to current consent is kept, whoever makes it.
CREATE FUNCTION consents_keep_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (OLD.data_sharing, OLD.research, OLD.source, OLD.recorded_at, OLD.recorded_by)
      IS NOT DISTINCT FROM (NEW.data_sharing, NEW.research, NEW.source, NEW.recorded_at, NEW.recorded_by) THEN
    RETURN NEW;
  END IF;
  INSERT INTO consent_history (patient_id, data_sharing, research, source, recorded_at, recorded_by, run_id)
  VALUES (NEW.patient_id, NEW.data_sharing, NEW.research, NEW.source, NEW.recorded_at, NEW.recorded_by, NEW.run_id);
  RETURN NEW;
END;
$$;
CREATE TRIGGER consents_history AFTER INSERT OR UPDATE ON consents
  FOR EACH ROW EXECUTE FUNCTION consents_keep_history();

CREATE TABLE observations (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  category text,
  code_system text,
  code text,
  effective_at timestamptz,
  status text,
  value_enc bytea,
  source_enc bytea,
  record_digest bytea NOT NULL,
  data_key_id uuid NOT NULL REFERENCES data_keys (id),
  created_run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  updated_run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX observations_patient ON observations (patient_id, effective_at);
CREATE INDEX observations_created_run ON observations (created_run_id);
CREATE INDEX observations_updated_run ON observations (updated_run_id);

CREATE TABLE rejections (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id uuid NOT NULL REFERENCES ingest_runs (id) ON DELETE CASCADE,
  record_index integer NOT NULL CHECK (record_index >= 0),
  resource_type text,
  reason text NOT NULL
    CHECK (reason IN ('schema', 'consent', 'orphan-reference', 'duplicate-in-batch', 'unsupported-type')),
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  stage text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (run_id, record_index, reason)
);

-- Outcome events of runs (the embedded event sink; SQS in AWS).
CREATE TABLE pipeline_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id uuid NOT NULL,
  type text NOT NULL,
  -- 0 for the run's first execution, n for its n-th re-drive: each outcome is its own event.
  attempt integer NOT NULL DEFAULT 0,
  body jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (run_id, type, attempt)
);

-- The audit log: append-only, each row's hash covering the previous row's hash.
CREATE TABLE audit_log (
  seq bigint PRIMARY KEY,
  id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor text NOT NULL,
  action text NOT NULL CHECK (action IN ('CREATE', 'READ', 'UPDATE', 'DELETE', 'DENY')),
  resource_type text NOT NULL,
  resource_id text,
  run_id uuid,
  outcome text NOT NULL CHECK (outcome IN ('success', 'denied', 'failure')),
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash bytea NOT NULL,
  hash bytea NOT NULL
);
CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_id, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_run ON audit_log (run_id) WHERE run_id IS NOT NULL;

-- The head of the chain. Its row lock orders concurrent writers, so seq follows chain order.
CREATE TABLE audit_chain_head (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  seq bigint NOT NULL,
  hash bytea NOT NULL
);
INSERT INTO audit_chain_head (seq, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- What a row's hash covers; GET /api/v1/audit/verify recomputes it with this same function.
CREATE FUNCTION audit_row_hash(
  p_prev_hash bytea, p_seq bigint, p_id uuid, p_at timestamptz, p_actor text, p_action text,
  p_resource_type text, p_resource_id text, p_run_id uuid, p_outcome text, p_details jsonb
) RETURNS bytea LANGUAGE sql STABLE AS $$
  SELECT sha256(p_prev_hash || convert_to(jsonb_build_array(
    p_seq, p_id, to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), p_actor, p_action,
    p_resource_type, p_resource_id, p_run_id, p_outcome, p_details)::text, 'UTF8'))
$$;

CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  head audit_chain_head%ROWTYPE;
BEGIN
  SELECT * INTO STRICT head FROM audit_chain_head FOR UPDATE;
  NEW.seq := head.seq + 1;
  NEW.at := clock_timestamp();
  NEW.prev_hash := head.hash;
  NEW.hash := audit_row_hash(NEW.prev_hash, NEW.seq, NEW.id, NEW.at, NEW.actor, NEW.action,
    NEW.resource_type, NEW.resource_id, NEW.run_id, NEW.outcome, NEW.details);
  UPDATE audit_chain_head SET seq = NEW.seq, hash = NEW.hash;
  RETURN NEW;
END;
$$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_chain();

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- Down Migration

DROP TABLE audit_chain_head;
DROP TABLE audit_log;
DROP FUNCTION audit_log_refuse_change();
DROP FUNCTION audit_log_chain();
DROP FUNCTION audit_row_hash(bytea, bigint, uuid, timestamptz, text, text, text, text, uuid, text, jsonb);
DROP TABLE pipeline_events;
DROP TABLE rejections;
DROP TABLE observations;
DROP TABLE consent_history;
DROP TABLE consents;
DROP FUNCTION consents_keep_history();
DROP TABLE patients;
DROP TABLE stage_payloads;
DROP TABLE ingest_runs;
DROP TABLE data_keys;
