import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/pool.ts';
import {
  type DataKeyRow,
  findBlindIndexKey,
  findDataKey,
  insertBlindIndexKeyOnce,
  insertDataKey,
} from '../db/repositories/dataKeys.ts';
import { DecryptionError } from '../errors.ts';
import type { DataKeyCache } from './dataKeyCache.ts';
import type { EncryptionContext, KeyService } from './keyService.ts';

const BLIND_INDEX_CONTEXT: EncryptionContext = { purpose: 'blind-index' };

/**
 * Data keys as the pipeline uses them: generated through the KeyService, stored wrapped
 * in data_keys, unwrapped on demand and cached, so key-service calls per run stay constant.
 */
export class Keyring {
  readonly #keyService: KeyService;
  readonly #cache: DataKeyCache;

  constructor(keyService: KeyService, cache: DataKeyCache) {
    this.#keyService = keyService;
    this.#cache = cache;
  }

  /** A fresh data key for one run, bound to it by the encryption context. */
  async createRunKey(db: Queryable, runId: string): Promise<{ id: string; key: Buffer }> {
    const context: EncryptionContext = { purpose: 'run', runId };
    const generated = await this.#keyService.generateDataKey(context);
    const id = randomUUID();
    await insertDataKey(db, {
      id,
      purpose: 'run',
      masterKeyId: generated.masterKeyId,
      encryptedKey: generated.encrypted,
      encryptionContext: context,
    });
    this.#cache.set(id, generated.plaintext);
    return { id, key: generated.plaintext };
  }

  /** The plaintext of a stored data key. */
  async dataKey(db: Queryable, id: string): Promise<Buffer> {
    const cached = this.#cache.get(id);
    // A copy: the cache wipes its buffer on eviction, which may come while the caller still works.
    if (cached !== undefined) return Buffer.from(cached);
    const row = await findDataKey(db, id);
    if (row === undefined) throw new DecryptionError(`data key ${id} does not exist`);
    return this.#unwrap(row);
  }

  /** The store-wide key for blind indexes and derived ids, created on first use. */
  async blindIndexKey(db: Queryable): Promise<Buffer> {
    const stored = await findBlindIndexKey(db);
    if (stored !== undefined) {
      const cached = this.#cache.get(stored.id);
      return cached === undefined ? this.#unwrap(stored) : Buffer.from(cached);
    }
    const generated = await this.#keyService.generateDataKey(BLIND_INDEX_CONTEXT);
    const winner = await insertBlindIndexKeyOnce(db, {
      id: randomUUID(),
      purpose: 'blind-index',
      masterKeyId: generated.masterKeyId,
      encryptedKey: generated.encrypted,
      encryptionContext: BLIND_INDEX_CONTEXT,
    });
    return winner.encryptedKey.equals(generated.encrypted)
      ? this.#remember(winner.id, generated.plaintext)
      : this.#unwrap(winner);
  }

  async #unwrap(row: DataKeyRow): Promise<Buffer> {
    const key = await this.#keyService.decryptDataKey(row.encryptedKey, row.encryptionContext);
    return this.#remember(row.id, key);
  }

  #remember(id: string, key: Buffer): Buffer {
    this.#cache.set(id, key);
    return key;
  }
}
