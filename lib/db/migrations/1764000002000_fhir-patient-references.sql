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

-- A Consent whose patient is not stored yet (Bulk Data exports send Consent.ndjson on its own):
-- kept by the reference it names, and obeyed when that Patient arrives. Only the decision is
-- kept, under the reference's blind index.
CREATE TABLE pending_consents (
  ref_bidx bytea PRIMARY KEY,
  data_sharing boolean NOT NULL,
  research boolean NOT NULL,
  recorded_at timestamptz NOT NULL,
  recorded_by text NOT NULL,
  run_id uuid REFERENCES ingest_runs (id) ON DELETE SET NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_consents_run ON pending_consents (run_id);

-- GET /fhir/r4/Observation pages a patient's observations by (effective_at, id).
DROP INDEX observations_patient;
CREATE INDEX observations_patient ON observations (patient_id, effective_at, id);

-- A patient's audit trail includes the writes and reads of their Observations.
CREATE INDEX audit_log_observation_patient ON audit_log ((details ->> 'patientId'), seq)
  WHERE resource_type = 'Observation';

-- Down Migration

DROP INDEX audit_log_observation_patient;
DROP TABLE pending_consents;
DROP INDEX observations_patient;
CREATE INDEX observations_patient ON observations (patient_id, effective_at);
DROP TABLE patient_references;
