-- Up Migration

-- Every patient and observation is stored with its source resource (a flat record's JSON for a
-- flat patient): Transform always seals one, and the FHIR reads build their resources from it.
ALTER TABLE patients ALTER COLUMN source_enc SET NOT NULL;
ALTER TABLE observations ALTER COLUMN source_enc SET NOT NULL;

-- Down Migration

ALTER TABLE observations ALTER COLUMN source_enc DROP NOT NULL;
ALTER TABLE patients ALTER COLUMN source_enc DROP NOT NULL;
