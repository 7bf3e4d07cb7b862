-- Up Migration

-- The same bytes as before, built as json rather than jsonb: jsonb_build_array converted every
-- value, details unpacked, into a binary array only to print it back as text. json_build_array
-- prints each value with the same escaping, numbers, ", " separators and jsonb output for
-- details, so each row's hash is unchanged (tests/integration/db/auditLog.test.ts).
CREATE OR REPLACE FUNCTION audit_row_hash(
  p_prev_hash bytea, p_seq bigint, p_id uuid, p_at timestamptz, p_actor text, p_action text,
  p_resource_type text, p_resource_id text, p_run_id uuid, p_outcome text, p_details jsonb
) RETURNS bytea LANGUAGE sql STABLE AS $$
  SELECT sha256(p_prev_hash || convert_to(json_build_array(
    p_seq, p_id, to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), p_actor, p_action,
    p_resource_type, p_resource_id, p_run_id, p_outcome, p_details)::text, 'UTF8'))
$$;

-- As before, but the carried head is set by an assignment: PERFORM ran its SELECT through the
-- executor for every row, an assignment is evaluated as a simple expression.
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
  carried := set_config('healthcare_etl.audit_head',
    tx || ':' || NEW.seq || ':' || encode(NEW.hash, 'hex'), true);
  RETURN NEW;
END;
$$;

-- Down Migration

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
CREATE OR REPLACE FUNCTION audit_row_hash(
  p_prev_hash bytea, p_seq bigint, p_id uuid, p_at timestamptz, p_actor text, p_action text,
  p_resource_type text, p_resource_id text, p_run_id uuid, p_outcome text, p_details jsonb
) RETURNS bytea LANGUAGE sql STABLE AS $$
  SELECT sha256(p_prev_hash || convert_to(jsonb_build_array(
    p_seq, p_id, to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), p_actor, p_action,
    p_resource_type, p_resource_id, p_run_id, p_outcome, p_details)::text, 'UTF8'))
$$;
