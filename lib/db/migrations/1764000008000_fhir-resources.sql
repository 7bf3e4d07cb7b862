-- Up Migration

-- Every FHIR resource other than Patient and Consent: patient data (patient_id set: its patient's
-- consent gates it) and resources shared by many patients (patient_id null: Practitioner,
-- Organization, Location, ...). In clear only what search needs, none of it a direct identifier;
-- the resource as sent is sealed in source_enc under its run's data key, the AAD binding the
-- table named in sealed_as, the column and the row.
CREATE TABLE fhir_resources (
  id uuid PRIMARY KEY,
  resource_type text NOT NULL CHECK (resource_type ~ '^[A-Z][A-Za-z]{1,63}$'),
  patient_id uuid REFERENCES patients (id) ON DELETE CASCADE,
  status text,
  code_system text,
  code text,
  category text,
  -- The type's principal date: Condition onset, Encounter period start, Observation effective, ...
  principal_at timestamptz,
  source_enc bytea NOT NULL,
  -- Rows moved from `observations` stay sealed as they were until they are written again.
  sealed_as text NOT NULL DEFAULT 'fhir_resources' CHECK (sealed_as IN ('fhir_resources', 'observations')),
  record_digest bytea NOT NULL,
  data_key_id uuid NOT NULL REFERENCES data_keys (id),
  created_run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  updated_run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- A patient's resources of one type in date order (search), and of every type ($everything).
CREATE INDEX fhir_resources_patient ON fhir_resources (patient_id, resource_type, principal_at, id)
  WHERE patient_id IS NOT NULL;
CREATE INDEX fhir_resources_created_run ON fhir_resources (created_run_id);
CREATE INDEX fhir_resources_updated_run ON fhir_resources (updated_run_id);

-- Other ways a stored resource is named than `Type/<sender's id>` (from which its id is derived):
-- its fullUrl, and `Type?identifier=system|value` for each identifier of a shared resource
-- (Synthea's conditional references). Blind-indexed with the sender's namespace.
CREATE TABLE resource_references (
  ref_bidx bytea PRIMARY KEY,
  resource_id uuid NOT NULL REFERENCES fhir_resources (id) ON DELETE CASCADE,
  run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX resource_references_resource ON resource_references (resource_id);
CREATE INDEX resource_references_run ON resource_references (run_id);

-- The references of a Patient the consent stage stopped (no permit, or a refusal): its blind
-- index, the id its MRN gives and which it was, so that its data sent later is a consent
-- rejection with its audited denial rather than an orphan. No PHI: what `rejections` knows.
CREATE TABLE withheld_patient_references (
  ref_bidx bytea PRIMARY KEY,
  patient_id uuid NOT NULL,
  consent text NOT NULL CHECK (consent IN ('absent', 'refused')),
  run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX withheld_patient_references_patient ON withheld_patient_references (patient_id);
CREATE INDEX withheld_patient_references_run ON withheld_patient_references (run_id);

INSERT INTO fhir_resources (id, resource_type, patient_id, status, code_system, code, category,
    principal_at, source_enc, sealed_as, record_digest, data_key_id, created_run_id,
    updated_run_id, created_at, updated_at)
  SELECT id, 'Observation', patient_id, status, code_system, code, category, effective_at,
    source_enc, 'observations', record_digest, data_key_id, created_run_id, updated_run_id,
    created_at, updated_at
  FROM observations;
DROP TABLE observations;

-- A patient's audit trail includes the writes and reads of every resource of their compartment.
DROP INDEX audit_log_observation_patient;
CREATE INDEX audit_log_patient_data ON audit_log ((details ->> 'patientId'), seq)
  WHERE details ? 'patientId';

-- Down Migration

-- Only Observations still sealed as they were in `observations` can go back; going down with any
-- other row would drop it, so it is refused instead.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM fhir_resources WHERE sealed_as <> 'observations' OR patient_id IS NULL) THEN
    RAISE EXCEPTION 'fhir_resources holds resources that observations cannot: migrating down would drop them';
  END IF;
END
$$;

DROP INDEX audit_log_patient_data;
CREATE INDEX audit_log_observation_patient ON audit_log ((details ->> 'patientId'), seq)
  WHERE resource_type = 'Observation';

CREATE TABLE observations (
  id uuid PRIMARY KEY,
  patient_id uuid NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  category text,
  code_system text,
  code text,
  effective_at timestamptz,
  status text,
  value_enc bytea,
  source_enc bytea NOT NULL,
  record_digest bytea NOT NULL,
  data_key_id uuid NOT NULL REFERENCES data_keys (id),
  created_run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  updated_run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX observations_patient ON observations (patient_id, effective_at, id);
CREATE INDEX observations_created_run ON observations (created_run_id);
CREATE INDEX observations_updated_run ON observations (updated_run_id);
INSERT INTO observations (id, patient_id, category, code_system, code, effective_at, status,
    source_enc, record_digest, data_key_id, created_run_id, updated_run_id, created_at, updated_at)
  SELECT id, patient_id, category, code_system, code, principal_at, status, source_enc,
    record_digest, data_key_id, created_run_id, updated_run_id, created_at, updated_at
  FROM fhir_resources WHERE sealed_as = 'observations' AND patient_id IS NOT NULL;
DROP TABLE withheld_patient_references;
DROP TABLE resource_references;
DROP TABLE fhir_resources;
