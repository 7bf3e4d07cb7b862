/**
 * The forgeries of the audit log that whoever owns the database can commit, as SQL, for the
 * integration and end-to-end tests of GET /api/v1/audit/verify to commit the same way.
 */

/**
 * Recomputes every hash from the row at `seq` on with audit_row_hash(), and carries the new
 * hashes into the head and the seals' hash column: a self-consistent chain, as the verification
 * checked it before seals. Run it after editing the row at `seq`, with the refuse-change
 * triggers off.
 */
export function recomputeChainFrom(seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError('seq must be a row seq');
  return `DO $$
   DECLARE r record; prev bytea;
   BEGIN
     SELECT hash INTO prev FROM audit_log WHERE seq = ${seq - 1};
     FOR r IN SELECT seq FROM audit_log WHERE seq >= ${seq} ORDER BY seq LOOP
       UPDATE audit_log SET prev_hash = prev,
         hash = audit_row_hash(prev, seq, id, at, actor, action, resource_type, resource_id,
                               run_id, outcome, details)
       WHERE seq = r.seq RETURNING hash INTO prev;
     END LOOP;
     UPDATE audit_chain_head SET seq = (SELECT max(seq) FROM audit_log), hash = prev;
     UPDATE audit_seals s SET hash = l.hash FROM audit_log l WHERE l.seq = s.seq;
   END $$`;
}
