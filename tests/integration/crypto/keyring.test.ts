import { randomBytes, randomUUID } from 'node:crypto';
import type { QueryResultRow } from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { DataKeyCache } from '../../../lib/crypto/dataKeyCache.ts';
import { decryptFieldText, encryptField } from '../../../lib/crypto/fieldCipher.ts';
import { Keyring } from '../../../lib/crypto/keyring.ts';
import type {
  EncryptionContext,
  GeneratedDataKey,
  KeyService,
} from '../../../lib/crypto/keyService.ts';
import { LocalKeyService } from '../../../lib/crypto/localKeyService.ts';
import type { Queryable } from '../../../lib/db/pool.ts';
import { findBlindIndexKey } from '../../../lib/db/repositories/dataKeys.ts';
import { DecryptionError } from '../../../lib/errors.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
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

/** A key service whose unwraps wait, while held, until `release`. */
class HeldKeyService implements KeyService {
  readonly #inner: KeyService;
  #gate!: Promise<void>;
  #open!: () => void;

  constructor(inner: KeyService) {
    this.#inner = inner;
    this.hold();
  }

  get masterKeyId(): string {
    return this.#inner.masterKeyId;
  }

  hold(): void {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  release(): void {
    this.#open();
  }

  generateDataKey(context: EncryptionContext): Promise<GeneratedDataKey> {
    return this.#inner.generateDataKey(context);
  }

  async decryptDataKey(encrypted: Buffer, context: EncryptionContext): Promise<Buffer> {
    await this.#gate;
    return this.#inner.decryptDataKey(encrypted, context);
  }
}

/** The pool, counting the queries that have returned. */
class CountedReads implements Queryable {
  readonly #pool: Queryable;
  #returned = 0;
  #waiting: { readonly count: number; readonly resolve: () => void }[] = [];

  constructor(pool: Queryable) {
    this.#pool = pool;
  }

  async query<R extends QueryResultRow>(text: string, values?: readonly unknown[]) {
    const result = await this.#pool.query<R>(text, values);
    this.#returned += 1;
    const due = this.#waiting.filter(({ count }) => count <= this.#returned);
    this.#waiting = this.#waiting.filter((waiter) => !due.includes(waiter));
    // After an immediate: the caller whose query this was has gone on to its next await.
    for (const waiter of due) setImmediate(waiter.resolve);
    return result;
  }

  /** Resolves once `count` queries in all have returned and their callers have moved on. */
  returned(count: number): Promise<void> {
    return new Promise((resolve) => this.#waiting.push({ count, resolve }));
  }
}

describe('Keyring on real PostgreSQL', () => {
  // A fresh database each time: the blind-index key is created once per store.
  const database = useTestDatabase({ perTest: true });
  let keyService: CountingKeyService;

  beforeEach(async () => {
    keyService = new CountingKeyService(new LocalKeyService(randomBytes(32)));
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
    // Prepare: unwraps held until every caller is waiting on one; reads counted as they return.
    const runId = randomUUID();
    const created = await newKeyring(keyService).createRunKey(database.pool, runId);
    const expectedRunKey = Buffer.from(created.key);
    const expectedIndexKey = await newKeyring(keyService).blindIndexKey(database.pool);
    const held = new HeldKeyService(keyService);
    const reads = new CountedReads(database.pool);
    const cold = new Keyring(held, new DataKeyCache({ maxAgeMs: 60_000, maxUses: 1_000 }));
    const decryptsBefore = keyService.count('decrypt');

    // Act: six callers per key; the unwrap is let go once all six have read the key's row.
    const runCalls = Array.from({ length: 6 }, () => cold.runKey(reads, created.id, runId));
    await reads.returned(6);
    held.release();
    const runKeys = await Promise.all(runCalls);
    held.hold();
    const indexCalls = Array.from({ length: 6 }, () => cold.blindIndexKey(reads));
    await reads.returned(7);
    held.release();
    const indexKeys = await Promise.all(indexCalls);
    runKeys[0]?.fill(0);
    // Past the immediate that wipes the shared plaintext: the callers' copies are their own.
    await new Promise((resolve) => setImmediate(resolve));

    // Assess
    expect(keyService.count('decrypt') - decryptsBefore).toBe(2);
    expect(new Set([...runKeys, ...indexKeys]).size).toBe(12);
    expect(runKeys.slice(1).every((key) => key.equals(expectedRunKey))).toBe(true);
    expect(indexKeys.every((key) => key.equals(expectedIndexKey))).toBe(true);
    expect((await cold.runKey(database.pool, created.id, runId)).equals(expectedRunKey)).toBe(true);
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
  // A fresh database each time: the run creates the blind-index key, as a store's first run does.
  const database = useTestDatabase({ perTest: true });

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
