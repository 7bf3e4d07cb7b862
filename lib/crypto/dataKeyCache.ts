import { ConfigError } from '../errors.ts';

export interface DataKeyCacheOptions {
  readonly maxAgeMs: number;
  readonly maxUses: number;
  /** Default 1000; the oldest entry goes first when full. */
  readonly maxEntries?: number;
  /** Clock in milliseconds, injectable for tests. */
  readonly now?: () => number;
}

interface Entry {
  readonly key: Buffer;
  readonly storedAt: number;
  uses: number;
}

/**
 * Decrypted data keys by id, each with a maximum age and use count, so KMS
 * calls stay a small constant per run. Evicted keys are zero-filled so no
 * plaintext key lingers in memory.
 */
export class DataKeyCache {
  readonly #maxAgeMs: number;
  readonly #maxUses: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  // A Map iterates in insertion order: the first entry is the oldest.
  readonly #entries = new Map<string, Entry>();

  constructor(options: DataKeyCacheOptions) {
    const maxEntries = options.maxEntries ?? 1000;
    for (const [name, value] of [
      ['maxAgeMs', options.maxAgeMs],
      ['maxUses', options.maxUses],
      ['maxEntries', maxEntries],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) {
        throw new ConfigError(`data key cache ${name} must be a whole number of at least 1`);
      }
    }
    this.#maxAgeMs = options.maxAgeMs;
    this.#maxUses = options.maxUses;
    this.#maxEntries = maxEntries;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The cached key, counting one use; undefined once it is older than maxAgeMs
   * or has been used maxUses times. The buffer is the cached one and is
   * zero-filled on eviction: use it at once, or copy it to keep it.
   */
  get(id: string): Buffer | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    if (this.#now() - entry.storedAt > this.#maxAgeMs || entry.uses >= this.#maxUses) {
      this.delete(id);
      return undefined;
    }
    entry.uses += 1;
    return entry.key;
  }

  /**
   * Stores a private copy of `key`, so the caller may wipe its own. The copy has memory of its
   * own: a small Buffer is otherwise a slice of Node's shared pool, and a cached key would keep
   * its whole slab (and whatever else was cut from it) alive as long as the key is cached.
   */
  set(id: string, key: Buffer): void {
    this.delete(id);
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.delete(oldest.value);
    }
    const copy = Buffer.allocUnsafeSlow(key.length);
    key.copy(copy);
    this.#entries.set(id, { key: copy, storedAt: this.#now(), uses: 0 });
  }

  delete(id: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    entry.key.fill(0);
    return this.#entries.delete(id);
  }

  clear(): void {
    for (const entry of this.#entries.values()) entry.key.fill(0);
    this.#entries.clear();
  }
}
