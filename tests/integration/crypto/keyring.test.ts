import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataKeyCache } from '../../../lib/crypto/dataKeyCache.ts';
import { decryptFieldText, encryptField } from '../../../lib/crypto/fieldCipher.ts';
import { Keyring } from '../../../lib/crypto/keyring.ts';
import { LocalKeyService } from '../../../lib/crypto/localKeyService.ts';
import { findBlindIndexKey } from '../../../lib/db/repositories/dataKeys.ts';
import { DecryptionError } from '../../../lib/errors.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';
import { CountingKeyService } from '../../helpers/keyServices.ts';
import { createTestPipeline, flatRecord } from '../../helpers/pipeline.ts';

const newKeyring = (keyService: CountingKeyService) =>
  new Keyring(keyService, new DataKeyCache({ maxAgeMs: 60_000, maxUses: 1_000 }));

const aad = {
  table: 'patients',
  column: 'name_enc',
  rowId: '6a3c1f0e-0000-4000-8000-00000000000a',
};

async function dataKeyRows(
  database: TestDatabase,
): Promise<Array<{ id: string; purpose: string }>> {
  const { rows } = await database.pool.query<{ id: string; purpose: string }>(
    'SELECT id, purpose FROM data_keys ORDER BY created_at',
  );
  return rows;
}

describe('Keyring on real PostgreSQL', () => {
  let database: TestDatabase;
  let keyService: CountingKeyService;

  beforeEach(async () => {
    // A fresh database each time: the blind-index key is created once per store.
    database = await createTestDatabase();
    keyService = new CountingKeyService(new LocalKeyService(randomBytes(32)));
  });

  afterEach(async () => {
    await database.drop();
  });

  it('serves a run key from the cache after createRunKey, and unwraps it once when cold', async () => {
    // Prepare
    const warm = newKeyring(keyService);
    const runId = randomUUID();
    const created = await warm.createRunKey(database.pool, runId);
    const createdBytes = Buffer.from(created.key);

    // Act
    const fromCache = await warm.runKey(database.pool, created.id, runId);
    const decryptsWhenWarm = keyService.count('decrypt');
    const cold = newKeyring(keyService);
    const unwrapped = await cold.runKey(database.pool, created.id, runId);
    const again = await cold.runKey(database.pool, created.id, runId);

    // Assess
    expect(createdBytes).toHaveLength(32);
    expect(fromCache.equals(createdBytes)).toBe(true);
    expect(decryptsWhenWarm).toBe(0);
    expect(unwrapped.equals(createdBytes)).toBe(true);
    expect(again.equals(createdBytes)).toBe(true);
    expect(keyService.calls).toEqual([
      { operation: 'generate', context: { purpose: 'run', runId } },
      { operation: 'decrypt', context: { purpose: 'run', runId } },
    ]);
    expect(await dataKeyRows(database)).toEqual([{ id: created.id, purpose: 'run' }]);
  });

  it('unwraps once for callers that miss a cold cache together, each given a copy of its own', async () => {
    // Prepare
    const runId = randomUUID();
    const created = await newKeyring(keyService).createRunKey(database.pool, runId);
    const expected = Buffer.from(created.key);
    await newKeyring(keyService).blindIndexKey(database.pool);
    const cold = newKeyring(keyService);
    const decryptsBefore = keyService.count('decrypt');

    // Act: six callers at once per key, before any unwrap has returned.
    const runKeys = await Promise.all(
      Array.from({ length: 6 }, () => cold.runKey(database.pool, created.id, runId)),
    );
    const indexKeys = await Promise.all(
      Array.from({ length: 6 }, () => cold.blindIndexKey(database.pool)),
    );
    runKeys[0]?.fill(0);
    await new Promise((resolve) => setImmediate(resolve));

    // Assess
    expect(keyService.count('decrypt') - decryptsBefore).toBe(2);
    expect(new Set(runKeys).size).toBe(6);
    expect(runKeys.slice(1).every((key) => key.equals(expected))).toBe(true);
    expect(new Set(indexKeys.map((key) => key.toString('hex'))).size).toBe(1);
    expect((await cold.runKey(database.pool, created.id, runId)).equals(expected)).toBe(true);
    expect(keyService.count('decrypt') - decryptsBefore).toBe(2);
  });

  it.each([
    ['warm', 'the keyring that created it'],
    ['cold', 'a fresh keyring'],
  ])(
    "refuses a run key asked for under another run's id (%s: %s), without calling the key service",
    async (temperature) => {
      // Prepare
      const creator = newKeyring(keyService);
      const { id } = await creator.createRunKey(database.pool, randomUUID());
      const keyring = temperature === 'warm' ? creator : newKeyring(keyService);
      const callsBefore = keyService.calls.length;

      // Act
      const attempt = keyring.runKey(database.pool, id, randomUUID());

      // Assess
      await expect(attempt).rejects.toThrow(DecryptionError);
      expect(keyService.calls.length).toBe(callsBefore);
    },
  );

  it.each([
    ['warm', 'the keyring that created it'],
    ['cold', 'a fresh keyring'],
  ])('refuses the blind-index key asked for as a row key (%s: %s)', async (temperature) => {
    // Prepare
    const creator = newKeyring(keyService);
    await creator.blindIndexKey(database.pool);
    const indexKey = await findBlindIndexKey(database.pool);
    const keyring = temperature === 'warm' ? creator : newKeyring(keyService);
    const callsBefore = keyService.calls.length;

    // Act
    const attempt = keyring.rowKey(database.pool, indexKey!.id);

    // Assess
    await expect(attempt).rejects.toThrow(DecryptionError);
    expect(keyService.calls.length).toBe(callsBefore);
  });

  it('refuses a data key id that does not exist', async () => {
    // Act
    const attempt = newKeyring(keyService).rowKey(database.pool, randomUUID());

    // Assess
    await expect(attempt).rejects.toThrow(DecryptionError);
    expect(keyService.calls).toEqual([]);
  });

  it.each([
    ['warm', 'served from the cache'],
    ['cold', 'unwrapped, then cached'],
  ])('hands out a copy (%s: %s): wiping it does not break the next runKey', async (temperature) => {
    // Prepare: the run key seals a field, then its holder wipes it, as acceptSubmission does
    const creator = newKeyring(keyService);
    const runId = randomUUID();
    const created = await creator.createRunKey(database.pool, runId);
    const sealed = encryptField(created.key, 'Jane Doe', aad);
    created.key.fill(0);
    const keyring = temperature === 'warm' ? creator : newKeyring(keyService);
    const first = await keyring.runKey(database.pool, created.id, runId);
    const firstOpens = decryptFieldText(first, sealed, aad);

    // Act
    first.fill(0);
    const second = await keyring.runKey(database.pool, created.id, runId);

    // Assess
    expect(firstOpens).toBe('Jane Doe');
    expect(second.equals(Buffer.alloc(32))).toBe(false);
    expect(decryptFieldText(second, sealed, aad)).toBe('Jane Doe');
    expect(keyService.count('decrypt')).toBe(temperature === 'warm' ? 0 : 1);
  });

  it.each([
    ['one process', 1],
    ['ten processes', 10],
  ])(
    'creates one blind-index key under 10 concurrent first calls (%s), the same 32 bytes for all',
    async (_name, keyrings) => {
      // Prepare
      const rings = Array.from({ length: keyrings }, () => newKeyring(keyService));

      // Act
      const keys = await Promise.all(
        Array.from({ length: 10 }, (_, i) => rings[i % keyrings]!.blindIndexKey(database.pool)),
      );

      // Assess
      const rows = await dataKeyRows(database);
      expect(rows.map((row) => row.purpose)).toEqual(['blind-index']);
      const stored = await findBlindIndexKey(database.pool);
      const winner = await keyService.decryptDataKey(stored!.encryptedKey, {
        purpose: 'blind-index',
      });
      expect(winner).toHaveLength(32);
      for (const key of keys) expect(key.equals(winner)).toBe(true);
    },
  );

  it('existingBlindIndexKey finds none on a fresh database, and creates none', async () => {
    // Prepare
    const keyring = newKeyring(keyService);

    // Act
    const existing = await keyring.existingBlindIndexKey(database.pool);

    // Assess
    expect(existing).toBeUndefined();
    expect(await dataKeyRows(database)).toEqual([]);
    expect(keyService.calls).toEqual([]);
  });

  it('existingBlindIndexKey returns the key blindIndexKey created', async () => {
    // Prepare
    const created = Buffer.from(await newKeyring(keyService).blindIndexKey(database.pool));

    // Act
    const existing = await newKeyring(keyService).existingBlindIndexKey(database.pool);

    // Assess
    expect(existing?.equals(created)).toBe(true);
    expect(await dataKeyRows(database)).toHaveLength(1);
  });
});

describe('key-service calls for a whole run through the ASL', () => {
  let database: TestDatabase;

  beforeEach(async () => {
    // A fresh database each time: the run creates the blind-index key, as a store's first run does.
    database = await createTestDatabase();
  });

  afterEach(async () => {
    await database.drop();
  });

  const batch = Array.from({ length: 40 }, (_, i) =>
    flatRecord({ mrn: `MRN-KMS-${i}`, name: `Kms Patient ${i}` }),
  );

  it('one warm process: at most 2 generate calls and no decrypt, whatever the batch size', async () => {
    // Prepare
    const keyService = new CountingKeyService(new LocalKeyService(randomBytes(32)));
    const pipeline = createTestPipeline(database, { keyService });

    // Act
    const { execution } = await pipeline.ingest(batch);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output?.counts).toMatchObject({ created: 40 });
    expect(keyService.count('generate')).toBeLessThanOrEqual(2);
    expect(keyService.count('decrypt')).toBe(0);
  });

  it('a cold keyring in every stage: at most 8 calls in total, whatever the batch size', async () => {
    // Prepare
    const keyService = new CountingKeyService(new LocalKeyService(randomBytes(32)));
    const pipeline = createTestPipeline(database, { keyService, keyringPerTask: true });

    // Act
    const { execution } = await pipeline.ingest(batch);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.output?.counts).toMatchObject({ created: 40 });
    // Each stage unwrapping the run key proves the stages did not share a cache.
    expect(
      keyService.calls.filter(
        (call) => call.operation === 'decrypt' && call.context['purpose'] === 'run',
      ),
    ).toHaveLength(5);
    expect(keyService.calls.length).toBeLessThanOrEqual(8);
  });
});
