import { createSecretKey, type KeyObject, randomUUID } from 'node:crypto';
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

/** Cached per key and use: a key fetched for one purpose is not handed out for another. */
function cacheIdFor(id: string, context: EncryptionContext): string {
  return `${id}:${JSON.stringify(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

/**
 * Data keys as the pipeline uses them: generated through the KeyService, stored wrapped
 * in data_keys, unwrapped on demand and cached, so key-service calls per run stay constant.
 */
export class Keyring {
  readonly #keyService: KeyService;
  readonly #cache: DataKeyCache;
  /** Key look-ups under way, by what they fetch: callers arriving meanwhile share them. */
  readonly #underWay = new Map<string, Promise<Buffer>>();

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
    this.#cache.set(cacheIdFor(id, context), generated.plaintext);
    return { id, key: generated.plaintext };
  }

  /** The data key of run `runId`: refused unless it was wrapped for exactly that run. */
  async runKey(db: Queryable, id: string, runId: string): Promise<Buffer> {
    return this.#stored(db, id, { purpose: 'run', runId });
  }

  /**
   * The data key a stored row names (a row records which run's key sealed it): refused unless
   * it is a run key. The context checked is the one the key was wrapped with.
   */
  async rowKey(db: Queryable, id: string): Promise<Buffer> {
    return this.#stored(db, id, { purpose: 'run' });
  }

  async #stored(db: Queryable, id: string, expected: EncryptionContext): Promise<Buffer> {
    const cacheId = cacheIdFor(id, expected);
    const cached = this.#cache.get(cacheId);
    // A copy: the cache wipes its buffer on eviction, which may come while the caller still works.
    if (cached !== undefined) return Buffer.from(cached);
    const row = await findDataKey(db, id);
    if (row === undefined) throw new DecryptionError(`data key ${id} does not exist`);
    const context = row.encryptionContext;
    const matches = Object.entries(expected).every(([name, value]) => context[name] === value);
    // The stored context is only trusted as far as it agrees with what the caller expects.
    if (row.purpose !== expected['purpose'] || !matches) {
      throw new DecryptionError(`data key ${id} is not a ${expected['purpose']} key for this use`);
    }
    return this.#unwrap(row, cacheId);
  }

  /** The blind-index key if the store has one yet: a look-up must not create it. */
  async existingBlindIndexKey(db: Queryable): Promise<Buffer | undefined> {
    const stored = await findBlindIndexKey(db);
    return stored === undefined ? undefined : this.#unwrapIndexKey(stored);
  }

  /**
   * The store-wide key for blind indexes and derived ids, created on first use. Callers that
   * ask at once share one look-up, so a cold cache costs one key-service call, not one each.
   * `db` must be the pool, never a transaction: a shared look-up runs on the first caller's
   * handle, and a key created inside a transaction that rolls back would be handed to others.
   */
  blindIndexKey(db: Queryable): Promise<Buffer> {
    return this.#shared('blind-index', () => this.#findOrCreateBlindIndexKey(db));
  }

  async #findOrCreateBlindIndexKey(db: Queryable): Promise<Buffer> {
    const stored = await findBlindIndexKey(db);
    if (stored !== undefined) return this.#unwrapIndexKey(stored);
    const generated = await this.#keyService.generateDataKey(BLIND_INDEX_CONTEXT);
    const winner = await insertBlindIndexKeyOnce(db, {
      id: randomUUID(),
      purpose: 'blind-index',
      masterKeyId: generated.masterKeyId,
      encryptedKey: generated.encrypted,
      encryptionContext: BLIND_INDEX_CONTEXT,
    });
    if (winner.encryptedKey.equals(generated.encrypted)) {
      return this.#remember(cacheIdFor(winner.id, BLIND_INDEX_CONTEXT), generated.plaintext);
    }
    // Another process created the key first: ours was never stored, so wipe it.
    generated.plaintext.fill(0);
    return this.#unwrapIndexKey(winner);
  }

  /**
   * The blind-index key as a key object, for a stage that computes an HMAC per record: made
   * once, it spares Node turning raw bytes into a key on every call. The raw copy is wiped.
   */
  async blindIndexKeyObject(db: Queryable): Promise<KeyObject> {
    const raw = await this.blindIndexKey(db);
    try {
      return createSecretKey(raw);
    } finally {
      raw.fill(0);
    }
  }

  /** Unwraps with the context the key was stored with, once the caller has checked it. */
  #unwrap(row: DataKeyRow, cacheId: string): Promise<Buffer> {
    return this.#cachedOrUnwrapped(cacheId, row, row.encryptionContext);
  }

  /** The blind-index key of the stored row, from the cache or unwrapped. */
  #unwrapIndexKey(row: DataKeyRow): Promise<Buffer> {
    return this.#cachedOrUnwrapped(
      cacheIdFor(row.id, BLIND_INDEX_CONTEXT),
      row,
      BLIND_INDEX_CONTEXT,
    );
  }

  /**
   * The key from the cache, else unwrapped and cached: one key-service call however many
   * callers ask at once.
   */
  #cachedOrUnwrapped(
    cacheId: string,
    row: DataKeyRow,
    context: EncryptionContext,
  ): Promise<Buffer> {
    return this.#shared(cacheId, async () => {
      // Looked for here too: another caller may have unwrapped it while this one read the row.
      const cached = this.#cache.get(cacheId);
      if (cached !== undefined) return Buffer.from(cached);
      const key = await this.#keyService.decryptDataKey(row.encryptedKey, context);
      return this.#remember(cacheId, key);
    });
  }

  /**
   * Runs `fetch` once for all the callers that ask for `name` while it is under way. Each
   * caller gets a copy of its own to use and wipe. The cache counts one use for the look-up,
   * not one per caller: at most the callers in flight at once beyond maxUses. The shared key
   * is wiped once every caller waiting on it has resumed and copied it: they resume in
   * microtasks, before any immediate.
   */
  async #shared(name: string, fetch: () => Promise<Buffer>): Promise<Buffer> {
    let pending = this.#underWay.get(name);
    if (pending === undefined) {
      const started = fetch()
        .then((key) => {
          setImmediate(() => key.fill(0));
          return key;
        })
        .finally(() => this.#underWay.delete(name));
      this.#underWay.set(name, started);
      pending = started;
    }
    return Buffer.from(await pending);
  }

  #remember(cacheId: string, key: Buffer): Buffer {
    this.#cache.set(cacheId, key);
    return key;
  }
}
