-- Up Migration

-- Whether a decision carries its own time (an API decision, a dated FHIR Consent) or only the
-- time it arrived (a flat record's consent, an undated Consent): a refusal stands until an
-- explicit grant dated after it, and is itself set aside only by an explicit grant dated later.
-- A writer that does not say (a version before this one) writes a decision with no time of its
-- own: its grant never outranks a refusal.
ALTER TABLE consents ADD COLUMN explicit boolean NOT NULL DEFAULT false;
UPDATE consents SET explicit = true WHERE source <> 'ingest';

-- Waiting Consents written before this migration do not say whether they were dated: undated.
ALTER TABLE pending_consents ADD COLUMN explicit boolean NOT NULL DEFAULT false;

-- Down Migration

ALTER TABLE pending_consents DROP COLUMN explicit;
ALTER TABLE consents DROP COLUMN explicit;
