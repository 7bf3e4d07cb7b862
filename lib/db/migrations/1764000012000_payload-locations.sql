-- Up Migration

-- A payload is kept inline (ciphertext) or in a store outside the database (location): the row
-- stays the commit record either way, so a stage's output exists once its transaction commits.
ALTER TABLE stage_payloads ALTER COLUMN ciphertext DROP NOT NULL;
ALTER TABLE stage_payloads ADD COLUMN location text;
ALTER TABLE stage_payloads ADD CONSTRAINT stage_payloads_inline_or_located
  CHECK ((ciphertext IS NULL) <> (location IS NULL));

-- Down Migration

DELETE FROM stage_payloads WHERE ciphertext IS NULL;
ALTER TABLE stage_payloads DROP CONSTRAINT stage_payloads_inline_or_located;
ALTER TABLE stage_payloads DROP COLUMN location;
ALTER TABLE stage_payloads ALTER COLUMN ciphertext SET NOT NULL;
