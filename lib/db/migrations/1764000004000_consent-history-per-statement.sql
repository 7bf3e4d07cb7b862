-- Up Migration

-- New consents reach their history once per INSERT statement, from its transition table,
-- instead of a PL/pgSQL INSERT for every row: Load records a consent for every patient of a
-- batch, thousands in one statement. Changes keep their row trigger (consents_keep_history
-- compares each row's old and new decision, and they come a few at a time).
DROP TRIGGER consents_history ON consents;

CREATE FUNCTION consents_history_of_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO consent_history (patient_id, data_sharing, research, source, recorded_at, recorded_by, run_id)
  SELECT patient_id, data_sharing, research, source, recorded_at, recorded_by, run_id FROM inserted;
  RETURN NULL;
END;
$$;
CREATE TRIGGER consents_history_insert AFTER INSERT ON consents
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION consents_history_of_inserted();
CREATE TRIGGER consents_history_update AFTER UPDATE ON consents
  FOR EACH ROW EXECUTE FUNCTION consents_keep_history();

-- Down Migration

DROP TRIGGER consents_history_update ON consents;
DROP TRIGGER consents_history_insert ON consents;
DROP FUNCTION consents_history_of_inserted();
CREATE TRIGGER consents_history AFTER INSERT OR UPDATE ON consents
  FOR EACH ROW EXECUTE FUNCTION consents_keep_history();
