import pg from 'pg';
import type { AuditMac } from '../../crypto/auditMac.ts';
import { jsonbArray, textArray, uuidArray } from '../binaryArrays.ts';
import { type Queryable, withTransaction } from '../pool.ts';

export const AUDIT_ACTIONS = ['CREATE', 'READ', 'UPDATE', 'DELETE', 'DENY'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
export type AuditOutcome = 'success' | 'denied' | 'failure';

/** One audited event. `details` holds identifiers, reasons and counts, never PHI. */
export interface AuditEntry {
  readonly actor: string;
  readonly action: AuditAction;
  readonly resourceType: string;
  readonly resourceId: string | null;
  readonly runId: string | null;
  readonly outcome: AuditOutcome;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface AuditRow extends AuditEntry {
  readonly seq: string;
  readonly id: string;
  readonly at: Date;
  readonly prevHash: Buffer;
  readonly hash: Buffer;
}

/** What a seal's MAC covers: the statement's last seq and the row hash there. */
export function sealMessage(seq: string, hash: Buffer): Buffer {
  return Buffer.from(`healthcare-etl/audit-seal/v1|${seq}|${hash.toString('hex')}`, 'utf8');
}

/**
 * Appends entries in the order given, then seals them. The database assigns seq, time and the
 * chained hashes (trigger audit_log_chain), so no writer can forge or reorder them; the seal
 * (one MAC call per statement, whatever its size) is written in the same transaction, so the
 * rows commit sealed or not at all. Given the pool, it opens that transaction itself.
 *
 * A seal is never laid over a chain someone changed behind the application: the newest seal
 * must end at the row just before these, hold that row's hash, and verify under the key (one
 * more MAC call). Otherwise the rows are written unsealed, and stay so with every later one,
 * so that `verify` keeps reporting the change (`unsealed`, `recomputed`) instead of a later
 * seal vouching for it. Only a log with no seal at all (rows from before seals) is sealed as is.
 */
export async function appendAudit(
  db: Queryable,
  mac: AuditMac,
  entries: readonly AuditEntry[],
): Promise<void> {
  if (entries.length === 0) return;
  if (db instanceof pg.Pool) {
    await withTransaction(db, (client) => appendAudit(client, mac, entries));
    return;
  }
  const { rows } = await db.query<{ seq: string; hash: Buffer; first_seq: string }>(
    `WITH inserted AS (
       INSERT INTO audit_log (actor, action, resource_type, resource_id, run_id, outcome, details)
       SELECT actor, action, resource_type, resource_id, run_id, outcome, details
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::jsonb[])
         WITH ORDINALITY AS entry(actor, action, resource_type, resource_id, run_id, outcome, details, n)
       ORDER BY n
       RETURNING seq, hash
     )
     SELECT seq, hash, (SELECT min(seq) FROM inserted) AS first_seq
     FROM inserted ORDER BY seq DESC LIMIT 1`,
    [
      textArray(entries.map((entry) => entry.actor)),
      textArray(entries.map((entry) => entry.action)),
      textArray(entries.map((entry) => entry.resourceType)),
      textArray(entries.map((entry) => entry.resourceId)),
      uuidArray(entries.map((entry) => entry.runId)),
      textArray(entries.map((entry) => entry.outcome)),
      jsonbArray(entries.map((entry) => JSON.stringify(entry.details))),
    ],
  );
  const last = rows[0];
  if (last === undefined) throw new Error('the audit insert returned no row');
  if (!(await sealsReachUnchanged(db, mac, last.first_seq))) return;
  const sealed = await mac.generateMac(sealMessage(last.seq, last.hash));
  await db.query('INSERT INTO audit_seals (seq, hash, mac, mac_key_id) VALUES ($1, $2, $3, $4)', [
    last.seq,
    last.hash,
    sealed,
    mac.keyId,
  ]);
  // Known good once committed; a rollback only leaves a seal that will never be read back.
  knownSeals.set(mac, { seq: last.seq, hash: last.hash, mac: sealed });
}

export interface Seal {
  readonly seq: string;
  readonly hash: Buffer;
  readonly mac: Buffer;
}

/**
 * Per key, the newest seal this process made or verified. A seal read back byte for byte the
 * same needs no second verification: the answer could only be the same. Each audit statement
 * would otherwise verify its predecessor's seal, one more key-service call (a KMS round trip
 * when deployed) made while the chain's lock is held.
 */
const knownSeals = new WeakMap<AuditMac, Seal>();

function isKnown(mac: AuditMac, seal: Seal): boolean {
  const known = knownSeals.get(mac);
  return (
    known !== undefined &&
    known.seq === seal.seq &&
    known.hash.equals(seal.hash) &&
    known.mac.equals(seal.mac)
  );
}

/**
 * Whether the newest seal ends at the row before `firstSeq`, still holds that row's hash and
 * verifies under the key: read after this statement's insert took the chain head's lock, so no
 * other writer's seal can land in between. True for a log without seals.
 */
async function sealsReachUnchanged(
  db: Queryable,
  mac: AuditMac,
  firstSeq: string,
): Promise<boolean> {
  const { rows } = await db.query<{
    seq: string;
    hash: Buffer;
    mac: Buffer;
    row_hash: Buffer | null;
  }>(
    `SELECT s.seq, s.hash, s.mac, l.hash AS row_hash
     FROM (SELECT seq, hash, mac FROM audit_seals ORDER BY seq DESC LIMIT 1) s
     LEFT JOIN audit_log l ON l.seq = s.seq`,
  );
  const newest = rows[0];
  if (newest === undefined) return true;
  if (BigInt(newest.seq) + 1n !== BigInt(firstSeq)) return false;
  if (newest.row_hash === null || !newest.row_hash.equals(newest.hash)) return false;
  return verifySeal(mac, newest);
}

/** Whether a seal's MAC verifies under the key: one key-service call, none for a seal known here. */
export async function verifySeal(mac: AuditMac, seal: Seal): Promise<boolean> {
  if (isKnown(mac, seal)) return true;
  const verified = await mac.verifyMac(sealMessage(seal.seq, seal.hash), seal.mac);
  if (verified) knownSeals.set(mac, { seq: seal.seq, hash: seal.hash, mac: seal.mac });
  return verified;
}

interface AuditRecord {
  seq: string;
  id: string;
  at: Date;
  actor: string;
  action: AuditAction;
  resource_type: string;
  resource_id: string | null;
  run_id: string | null;
  outcome: AuditOutcome;
  details: Record<string, unknown>;
  prev_hash: Buffer;
  hash: Buffer;
}

function fromRecord(row: AuditRecord): AuditRow {
  return {
    seq: row.seq,
    id: row.id,
    at: row.at,
    actor: row.actor,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    runId: row.run_id,
    outcome: row.outcome,
    details: row.details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

export interface AuditFilter {
  /** Entries about this patient: the Patient itself, its Consent and its Observations. */
  readonly patientId?: string;
  readonly actor?: string;
  readonly actions?: readonly AuditAction[];
  readonly from?: Date;
  readonly to?: Date;
  /** Entries past this seq in the page's order (the cursor of the previous page). */
  readonly pastSeq?: string;
}

/** Chain order (`asc`) or newest first (`desc`). */
export type AuditOrder = 'asc' | 'desc';

/** One page of entries in `order`, filtered; `limit + 1` are read to know whether more follow. */
export async function listAudit(
  db: Queryable,
  filter: AuditFilter,
  order: AuditOrder,
  limit: number,
): Promise<AuditRow[]> {
  // One of two fixed spellings: nothing from the request is spliced into the SQL.
  const [past, direction] = order === 'asc' ? ['>', 'ASC'] : ['<', 'DESC'];
  const { rows } = await db.query<AuditRecord>(
    `SELECT * FROM audit_log
     WHERE ($1::text IS NULL
         OR (resource_id = $1 AND resource_type IN ('Patient', 'Consent'))
         OR (details ? 'patientId' AND details ->> 'patientId' = $1))
       AND ($2::text IS NULL OR actor = $2)
       AND ($3::text[] IS NULL OR action = ANY($3))
       AND ($4::timestamptz IS NULL OR at >= $4)
       AND ($5::timestamptz IS NULL OR at < $5)
       AND ($6::bigint IS NULL OR seq ${past} $6)
     ORDER BY seq ${direction}
     LIMIT $7`,
    [
      filter.patientId ?? null,
      filter.actor ?? null,
      filter.actions ?? null,
      filter.from ?? null,
      filter.to ?? null,
      filter.pastSeq ?? null,
      limit,
    ],
  );
  return rows.map(fromRecord);
}

export async function listAuditByRun(db: Queryable, runId: string): Promise<AuditRow[]> {
  const { rows } = await db.query<AuditRecord>(
    'SELECT * FROM audit_log WHERE run_id = $1 ORDER BY seq',
    [runId],
  );
  return rows.map(fromRecord);
}

/** The hash before the first row: 32 zero bytes, as seeded in audit_chain_head. */
const GENESIS_HASH = Buffer.alloc(32);

export interface ChainBreak {
  readonly seq: string;
  readonly problem: 'prev-hash-mismatch' | 'hash-mismatch' | 'head-mismatch';
}

/** A seal as stored: the MAC over the statement's last seq and hash. */
export interface AuditSeal {
  readonly seq: string;
  readonly hash: Buffer;
  readonly mac: Buffer;
  readonly macKeyId: string;
}

/** The newest seal, or undefined before the first sealed statement. */
export async function newestAuditSeal(db: Queryable): Promise<AuditSeal | undefined> {
  const { rows } = await db.query<{ seq: string; hash: Buffer; mac: Buffer; mac_key_id: string }>(
    'SELECT seq, hash, mac, mac_key_id FROM audit_seals ORDER BY seq DESC LIMIT 1',
  );
  const row = rows[0];
  return row === undefined
    ? undefined
    : { seq: row.seq, hash: row.hash, mac: row.mac, macKeyId: row.mac_key_id };
}

/** What one SQL pass over the chain and its seals found; MACs are left to the caller. */
export interface ChainInspection {
  readonly rows: number;
  readonly lastSeq: string | null;
  /** The first row whose hash is not its contents' or whose link breaks, or a head not at the last row. */
  readonly firstBreak: ChainBreak | undefined;
  /** audit_chain_head names a seq beyond the last row: rows were deleted under it. */
  readonly headBeyondRows: boolean;
  /** The first seal whose hash is not its row's (the chain was recomputed under it). */
  readonly firstSealMismatch: string | null;
  /** The first seal beyond the last row (rows were deleted under it). */
  readonly firstSealBeyondRows: string | null;
  readonly newestSeal: AuditSeal | undefined;
  /** Rows after the newest seal: written behind appendAudit, or their seals deleted. */
  readonly rowsAfterNewestSeal: number;
  /** The first seal's seq, null without any: a checkpoint before it had its seals deleted. */
  readonly oldestSeal: string | null;
  /** The row hash at the seq asked for (a checkpoint's), null when there is no such row. */
  readonly hashAtSeq: Buffer | null;
}

/**
 * Walks the chain in seq order, recomputing each hash with the same SQL function the trigger
 * used, and holds the seals against the rows, in one statement (one snapshot). `afterSeq` 0
 * walks every row; a later seq (a trusted checkpoint's) walks only the rows after it, the first
 * linked to that row's stored hash, and holds only the seals from it on: the rows before it are
 * vouched for by the checkpoint, their hashes not recomputed. `atSeq` names a row whose hash is
 * wanted too (the latest checkpoint's).
 */
export async function verifyAuditChain(
  db: Queryable,
  atSeq: string | null = null,
  afterSeq = '0',
): Promise<ChainInspection> {
  const { rows } = await db.query<{
    total: string;
    last_seq: string | null;
    break_seq: string | null;
    prev_ok: boolean | null;
    head_seq: string;
    head_hash_ok: boolean;
    seal_mismatch: string | null;
    seal_beyond: string | null;
    seal_seq: string | null;
    seal_hash: Buffer | null;
    seal_mac: Buffer | null;
    seal_key: string | null;
    after_seal: string;
    oldest_seal: string | null;
    hash_at_seq: Buffer | null;
  }>(
    `WITH chain AS (
       SELECT seq,
              prev_hash = coalesce(lag(hash) OVER w,
                                   (SELECT hash FROM audit_log WHERE seq = $3::bigint), $1::bytea)
                AND seq = coalesce(lag(seq) OVER w, $3::bigint) + 1 AS prev_ok,
              hash = audit_row_hash(prev_hash, seq, id, at, actor, action, resource_type,
                                    resource_id, run_id, outcome, details) AS hash_ok
       FROM audit_log WHERE seq > $3::bigint WINDOW w AS (ORDER BY seq)
     ),
     first_break AS (
       SELECT seq, prev_ok FROM chain WHERE NOT (prev_ok AND hash_ok) ORDER BY seq LIMIT 1
     ),
     last_row AS (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1),
     sealed AS (
       SELECT s.seq, s.hash, s.mac, s.mac_key_id, l.hash AS row_hash
       FROM audit_seals s LEFT JOIN audit_log l ON l.seq = s.seq
       WHERE s.seq >= $3::bigint
     ),
     newest_seal AS (SELECT * FROM audit_seals ORDER BY seq DESC LIMIT 1)
     SELECT (SELECT count(*) FROM chain) AS total,
            (SELECT seq FROM last_row) AS last_seq,
            (SELECT seq FROM first_break) AS break_seq,
            (SELECT prev_ok FROM first_break) AS prev_ok,
            h.seq AS head_seq,
            h.hash = coalesce((SELECT hash FROM last_row), $1::bytea) AS head_hash_ok,
            (SELECT min(seq) FROM sealed WHERE row_hash <> hash) AS seal_mismatch,
            (SELECT min(seq) FROM sealed WHERE row_hash IS NULL
               AND seq > coalesce((SELECT seq FROM last_row), 0)) AS seal_beyond,
            n.seq AS seal_seq, n.hash AS seal_hash, n.mac AS seal_mac, n.mac_key_id AS seal_key,
            (SELECT count(*) FROM audit_log WHERE seq > coalesce(n.seq, 0)) AS after_seal,
            (SELECT min(seq) FROM audit_seals) AS oldest_seal,
            (SELECT hash FROM audit_log WHERE seq = $2::bigint) AS hash_at_seq
     FROM audit_chain_head h LEFT JOIN newest_seal n ON true`,
    [GENESIS_HASH, atSeq, afterSeq],
  );
  const result = rows[0];
  if (result === undefined) throw new Error('audit verification returned no row');
  const lastSeq = result.last_seq;
  const headSeq = BigInt(result.head_seq);
  const headBeyondRows = headSeq > BigInt(lastSeq ?? '0');
  let firstBreak: ChainBreak | undefined;
  if (result.break_seq !== null) {
    const problem = result.prev_ok === false ? 'prev-hash-mismatch' : 'hash-mismatch';
    firstBreak = { seq: result.break_seq, problem };
  } else if (headSeq !== BigInt(lastSeq ?? '0') || !result.head_hash_ok) {
    firstBreak = { seq: lastSeq ?? '0', problem: 'head-mismatch' };
  }
  return {
    rows: Number(result.total),
    lastSeq,
    firstBreak,
    headBeyondRows,
    firstSealMismatch: result.seal_mismatch,
    firstSealBeyondRows: result.seal_beyond,
    newestSeal:
      result.seal_seq === null || result.seal_hash === null || result.seal_mac === null
        ? undefined
        : {
            seq: result.seal_seq,
            hash: result.seal_hash,
            mac: result.seal_mac,
            macKeyId: result.seal_key ?? '',
          },
    rowsAfterNewestSeal: Number(result.after_seal),
    oldestSeal: result.oldest_seal,
    hashAtSeq: result.hash_at_seq,
  };
}
