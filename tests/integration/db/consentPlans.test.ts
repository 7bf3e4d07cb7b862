import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { TransactionClient } from '../../../lib/db/pool.ts';
import { withTransaction } from '../../../lib/db/pool.ts';
import {
  lockConsents,
  revokeConsentsByMrnIndex,
  upsertConsents,
} from '../../../lib/db/repositories/consents.ts';
import { type PatientRow, upsertPatients } from '../../../lib/db/repositories/patients.ts';
import { useTestDatabase } from '../../helpers/database.ts';

const database = useTestDatabase({ perTest: true });

const DATA_KEY = '00000000-0000-4000-8000-00000000d47a';

function patient(): PatientRow {
  return {
    id: randomUUID(),
    mrnBidx: randomBytes(32),
    ssnBidx: null,
    mrnEnc: randomBytes(40),
    nameEnc: null,
    birthDateEnc: null,
    ssnEnc: null,
    addressEnc: null,
    telecomEnc: null,
    sourceEnc: randomBytes(120),
    gender: null,
    recordDigest: randomBytes(32),
    dataKeyId: DATA_KEY,
  };
}

/** Rows of `patients` and `consents` this transaction has read by sequential scan so far. */
async function sequentialReads(client: TransactionClient): Promise<number> {
  const { rows } = await client.query<{ read: string }>(
    `SELECT pg_stat_get_xact_tuples_returned('patients'::regclass)
       + pg_stat_get_xact_tuples_returned('consents'::regclass) AS read`,
  );
  return Number(rows[0]?.read);
}

describe("Load's consent statements on a table without statistics yet", () => {
  it('find the patients a batch refuses by index, not by reading every patient', async () => {
    // Prepare: 20,000 stored patients with consents, never analyzed (a fresh database's state
    // until autovacuum gets to it), and a batch refusing 100 MRNs, 10 of them stored
    await database.pool.query(
      `INSERT INTO data_keys (id, purpose, master_key_id, encrypted_key, encryption_context)
       VALUES ($1, 'run', 'test', '\\x00', '{}')`,
      [DATA_KEY],
    );
    const stored: PatientRow[] = [];
    for (let batch = 0; batch < 20; batch += 1) {
      const rows = Array.from({ length: 1_000 }, patient);
      stored.push(...rows);
      await upsertPatients(database.pool, null, rows);
      await upsertConsents(
        database.pool,
        rows.map((row) => ({
          patientId: row.id,
          dataSharing: true,
          research: false,
          source: 'ingest',
          recordedAt: new Date('2026-01-01T00:00:00Z'),
          explicit: false,
          recordedBy: 'system:test',
          runId: null,
        })),
      );
    }
    const refused = [
      ...stored.slice(0, 10).map((row) => row.mrnBidx),
      ...Array.from({ length: 90 }, () => randomBytes(32)),
    ];

    // Act
    const { locked, revoked, read } = await withTransaction(database.pool, async (client) => {
      const before = await sequentialReads(client);
      const lockedConsents = await lockConsents(client, [], refused);
      const revokedIds = await revokeConsentsByMrnIndex(
        client,
        refused.map((mrnBidx) => ({ mrnBidx, research: false })),
        // No run row is needed: a consent's run_id may be null.
        { recordedAt: new Date(), recordedBy: 'system:test', runId: null as unknown as string },
      );
      return {
        locked: lockedConsents,
        revoked: revokedIds,
        read: (await sequentialReads(client)) - before,
      };
    });

    // Assess: the 10 stored patients found; at most the rows the index led to were read
    expect(locked.size).toBe(10);
    expect(revoked.toSorted()).toEqual(
      stored
        .slice(0, 10)
        .map((row) => row.id)
        .toSorted(),
    );
    expect(read).toBeLessThanOrEqual(40);
  });
});
