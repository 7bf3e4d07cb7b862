import { boolArray, byteaArray, textArray, timestamptzArray, uuidArray } from '../binaryArrays.ts';
import type { Queryable } from '../pool.ts';
import { TAKES_EFFECT } from './consents.ts';

/** A Consent decision for a patient not stored yet, by the blind index of its reference. */
export interface PendingConsentRow {
  readonly refBidx: Buffer;
  readonly dataSharing: boolean;
  readonly research: boolean;
  readonly recordedAt: Date;
  /** A dated Consent's time, or (undated) its arrival: as in ConsentRow. */
  readonly explicit: boolean;
  readonly recordedBy: string;
  readonly runId: string | null;
}

/** Keeps one decision per reference, each replacing the one kept only as weighConsent says. */
export async function upsertPendingConsents(
  db: Queryable,
  rows: readonly PendingConsentRow[],
): Promise<number> {
  if (rows.length === 0) return 0;
  // One lock order for every writer: concurrent runs cannot deadlock.
  const ordered = rows.toSorted((a, b) => Buffer.compare(a.refBidx, b.refBidx));
  const { rowCount } = await db.query(
    `INSERT INTO pending_consents AS c (ref_bidx, data_sharing, research, recorded_at, recorded_by,
       run_id, explicit)
     SELECT * FROM unnest($1::bytea[], $2::boolean[], $3::boolean[], $4::timestamptz[], $5::text[],
       $6::uuid[], $7::boolean[])
     ON CONFLICT (ref_bidx) DO UPDATE SET
       data_sharing = EXCLUDED.data_sharing, research = EXCLUDED.research,
       recorded_at = EXCLUDED.recorded_at, recorded_by = EXCLUDED.recorded_by,
       run_id = EXCLUDED.run_id, explicit = EXCLUDED.explicit, updated_at = now()
     WHERE ${TAKES_EFFECT('c', 'EXCLUDED')}`,
    [
      byteaArray(ordered.map((row) => row.refBidx)),
      boolArray(ordered.map((row) => row.dataSharing)),
      boolArray(ordered.map((row) => row.research)),
      timestamptzArray(ordered.map((row) => row.recordedAt)),
      textArray(ordered.map((row) => row.recordedBy)),
      uuidArray(ordered.map((row) => row.runId)),
      boolArray(ordered.map((row) => row.explicit)),
    ],
  );
  return rowCount ?? 0;
}

/** The decisions waiting for these references, keyed by the blind index in base64. */
export async function findPendingConsents(
  db: Queryable,
  refBidxs: readonly Buffer[],
): Promise<Map<string, PendingConsentRow>> {
  if (refBidxs.length === 0) return new Map();
  const { rows } = await db.query<{
    ref_bidx: Buffer;
    data_sharing: boolean;
    research: boolean;
    recorded_at: Date;
    recorded_by: string;
    run_id: string | null;
    explicit: boolean;
  }>('SELECT * FROM pending_consents WHERE ref_bidx = ANY($1::bytea[])', [byteaArray(refBidxs)]);
  return new Map(
    rows.map((row) => [
      row.ref_bidx.toString('base64'),
      {
        refBidx: row.ref_bidx,
        dataSharing: row.data_sharing,
        research: row.research,
        recordedAt: row.recorded_at,
        explicit: row.explicit,
        recordedBy: row.recorded_by,
        runId: row.run_id,
      },
    ]),
  );
}

/** Once a patient is stored, its decision lives in `consents`: the pending rows go. */
export async function deletePendingConsents(
  db: Queryable,
  refBidxs: readonly Buffer[],
): Promise<void> {
  if (refBidxs.length === 0) return;
  await db.query('DELETE FROM pending_consents WHERE ref_bidx = ANY($1::bytea[])', [
    byteaArray(refBidxs),
  ]);
}
