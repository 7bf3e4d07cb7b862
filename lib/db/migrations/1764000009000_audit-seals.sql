-- Up Migration

-- A seal per audit INSERT statement: a MAC over the statement's last row hash, made with a key
-- that never sits in the database (KMS GenerateMac in AWS, the local key service embedded).
-- Each row hash covers the previous one, so a seal that verifies commits to every row up to
-- its seq: whoever owns the database can recompute the SQL chain but cannot reseal it.
-- The application writes the seal in the audit rows' transaction; rows before the first seal
-- (written before this migration) are legacy, unsealed.
CREATE TABLE audit_seals (
  seq bigint PRIMARY KEY,
  hash bytea NOT NULL,
  mac bytea NOT NULL,
  mac_key_id text NOT NULL,
  sealed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TRIGGER audit_seals_no_update_delete BEFORE UPDATE OR DELETE ON audit_seals
  FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- Down Migration

DROP TABLE audit_seals;
