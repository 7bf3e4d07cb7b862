-- Up Migration

-- The chain head is written once per INSERT statement, not once per row. Updating the one
-- head row for every audit row made a transaction of n rows walk an n-long chain of its own
-- row versions on every insert: quadratic, and Load audits thousands of rows at a time.
--
-- Within a transaction the head is carried from row to row in a transaction-local setting,
-- tagged with the transaction's id. It is safe to trust for as long as the transaction holds
-- the head row's lock, which the first row takes (FOR UPDATE) and keeps until commit; a
-- rolled-back savepoint rolls the setting back with its rows. A setting forged by a writer
-- can only break the chain, and GET /api/v1/audit/verify finds every break.
CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  tx text := pg_current_xact_id()::text;
  carried text := coalesce(current_setting('healthcare_etl.audit_head', true), '');
  head_seq bigint;
  head_hash bytea;
BEGIN
  IF split_part(carried, ':', 1) = tx THEN
    head_seq := split_part(carried, ':', 2)::bigint;
    head_hash := decode(split_part(carried, ':', 3), 'hex');
  ELSE
    SELECT seq, hash INTO STRICT head_seq, head_hash FROM audit_chain_head FOR UPDATE;
  END IF;
  NEW.seq := head_seq + 1;
  NEW.at := clock_timestamp();
  NEW.prev_hash := head_hash;
  NEW.hash := audit_row_hash(NEW.prev_hash, NEW.seq, NEW.id, NEW.at, NEW.actor, NEW.action,
    NEW.resource_type, NEW.resource_id, NEW.run_id, NEW.outcome, NEW.details);
  PERFORM set_config('healthcare_etl.audit_head',
    tx || ':' || NEW.seq || ':' || encode(NEW.hash, 'hex'), true);
  RETURN NEW;
END;
$$;

-- After each INSERT statement: the head the statement's last row left, written once.
CREATE FUNCTION audit_log_store_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  carried text := coalesce(current_setting('healthcare_etl.audit_head', true), '');
BEGIN
  IF split_part(carried, ':', 1) = pg_current_xact_id()::text THEN
    UPDATE audit_chain_head
    SET seq = split_part(carried, ':', 2)::bigint, hash = decode(split_part(carried, ':', 3), 'hex')
    WHERE seq IS DISTINCT FROM split_part(carried, ':', 2)::bigint;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER audit_log_store_head AFTER INSERT ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_store_head();

-- Down Migration

DROP TRIGGER audit_log_store_head ON audit_log;
DROP FUNCTION audit_log_store_head();
CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
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
