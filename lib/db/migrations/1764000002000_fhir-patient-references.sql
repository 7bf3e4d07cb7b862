-- Up Migration

-- How FHIR resources name a stored patient: `Patient/<sender's id>` (also what a `urn:uuid`
-- fullUrl reduces to), blind-indexed like the MRN, since a sender's id can identify a person.
-- An Observation or Consent in a later batch finds its patient here.
CREATE TABLE patient_references (
  ref_bidx bytea PRIMARY KEY,
  patient_id uuid NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patient_references_patient ON patient_references (patient_id);
CREATE INDEX patient_references_run ON patient_references (run_id);

-- GET /fhir/r4/Observation pages a patient's observations by (effective_at, id).
DROP INDEX observations_patient;
CREATE INDEX observations_patient ON observations (patient_id, effective_at, id);

-- A patient's audit trail includes the writes and reads of their Observations.
CREATE INDEX audit_log_observation_patient ON audit_log ((details ->> 'patientId'), seq)
  WHERE resource_type = 'Observation';

-- Down Migration

DROP INDEX audit_log_observation_patient;
DROP INDEX observations_patient;
CREATE INDEX observations_patient ON observations (patient_id, effective_at);
DROP TABLE patient_references;
