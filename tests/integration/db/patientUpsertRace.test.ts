import { randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTransaction } from '../../../lib/db/pool.ts';
import { insertDataKey } from '../../../lib/db/repositories/dataKeys.ts';
import { upsertPatients } from '../../../lib/db/repositories/patients.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { opaquePatientRow } from '../../helpers/rows.ts';

/** Opaque stand-ins for ciphertext: this is about the SQL, not the crypto. */
const bytes = (n = 24) => randomBytes(n);

describe('upsertPatients under concurrent first inserts of the same MRN', () => {
  const database = useTestDatabase();
  let dataKeyId: string;

  beforeAll(async () => {
    dataKeyId = randomUUID();
    await insertDataKey(database.pool, {
      id: dataKeyId,
      purpose: 'run',
      masterKeyId: 'local',
      encryptedKey: bytes(61),
      encryptionContext: { purpose: 'run', runId: 'none' },
    });
  });

  it('never fails with a unique violation: one writer creates the row, the others see it', async () => {
    // Prepare: 500 new patients, each written by 4 transactions at once (4 runs sharing an MRN)
    const patients = Array.from({ length: 500 }, () => opaquePatientRow(dataKeyId));

    // Act
    const failures: string[] = [];
    let created = 0;
    for (const patient of patients) {
      const writers = await Promise.allSettled(
        Array.from({ length: 4 }, () =>
          withTransaction(database.pool, (client) => upsertPatients(client, null, [patient])),
        ),
      );
      for (const writer of writers) {
        if (writer.status === 'fulfilled') created += writer.value.created.length;
        else {
          const error = writer.reason as { code?: string; constraint?: string };
          failures.push(`SQLSTATE ${error.code} on ${error.constraint}`);
        }
      }
    }

    // Assess
    expect(failures).toEqual([]);
    expect(created).toBe(500);
  }, 120_000);
});
