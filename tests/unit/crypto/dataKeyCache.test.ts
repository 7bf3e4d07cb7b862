import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DataKeyCache } from '../../../lib/crypto/dataKeyCache.ts';
import { ConfigError } from '../../../lib/errors.ts';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let time = start;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

describe('DataKeyCache', () => {
  it('returns a stored key', () => {
    // Prepare
    const cache = new DataKeyCache({ maxAgeMs: 60_000, maxUses: 10 });
    const key = randomBytes(32);
    cache.set('run-1', key);

    // Act
    const cached = cache.get('run-1');

    // Assess
    expect(cached?.equals(key)).toBe(true);
  });

  it('misses an id it never stored', () => {
    // Prepare
    const cache = new DataKeyCache({ maxAgeMs: 60_000, maxUses: 10 });

    // Act
    const cached = cache.get('run-1');

    // Assess
    expect(cached).toBeUndefined();
  });

  it.each([
    ['at maxAgeMs', 60_000, true],
    ['past maxAgeMs', 60_001, false],
  ])('answers a key %s: hit %s', (_, elapsed, hit) => {
    // Prepare
    const time = clock();
    const cache = new DataKeyCache({ maxAgeMs: 60_000, maxUses: 10, now: time.now });
    cache.set('run-1', randomBytes(32));
    time.advance(elapsed);

    // Act
    const cached = cache.get('run-1');

    // Assess
    expect(cached !== undefined).toBe(hit);
    expect(cache.size).toBe(hit ? 1 : 0);
  });

  it('serves a key maxUses times, then misses', () => {
    // Prepare
    const cache = new DataKeyCache({ maxAgeMs: 60_000, maxUses: 3 });
    cache.set('run-1', randomBytes(32));

    // Act
    const answers = Array.from({ length: 4 }, () => cache.get('run-1') !== undefined);

    // Assess
    expect(answers).toEqual([true, true, true, false]);
    expect(cache.size).toBe(0);
  });

  it.each([
    [
      'expiry by age',
      (cache: DataKeyCache, advance: (ms: number) => void) => {
        advance(60_001);
        cache.get('run-1');
      },
    ],
    [
      'expiry by uses',
      (cache: DataKeyCache) => {
        cache.get('run-1');
        cache.get('run-1');
      },
    ],
    [
      'delete',
      (cache: DataKeyCache) => {
        cache.delete('run-1');
      },
    ],
    [
      'clear',
      (cache: DataKeyCache) => {
        cache.clear();
      },
    ],
    [
      'replacement under the same id',
      (cache: DataKeyCache) => {
        cache.set('run-1', randomBytes(32));
      },
    ],
  ])('zero-fills a key evicted by %s', (_, evict) => {
    // Prepare
    const time = clock();
    const cache = new DataKeyCache({ maxAgeMs: 60_000, maxUses: 1, now: time.now });
    cache.set('run-1', randomBytes(32));
    const cached = cache.get('run-1')!;

    // Act
    evict(cache, time.advance);

    // Assess
    expect(cached.equals(Buffer.alloc(32))).toBe(true);
  });

  it('stores a copy the caller cannot change', () => {
    // Prepare
    const cache = new DataKeyCache({ maxAgeMs: 60_000, maxUses: 10 });
    const key = randomBytes(32);
    const original = Buffer.from(key);
    cache.set('run-1', key);

    // Act
    key.fill(0);

    // Assess
    expect(cache.get('run-1')?.equals(original)).toBe(true);
  });

  it('keeps each key in memory of its own, not in a slab of the shared Buffer pool', () => {
    // Prepare
    const cache = new DataKeyCache({ maxAgeMs: 60_000, maxUses: 10 });

    // Act
    cache.set('run-1', randomBytes(32));
    cache.set('run-2', Buffer.from(randomBytes(32)));

    // Assess: a pooled Buffer shares an ArrayBuffer of Buffer.poolSize bytes.
    expect(cache.get('run-1')?.buffer.byteLength).toBe(32);
    expect(cache.get('run-2')?.buffer.byteLength).toBe(32);
  });

  it('evicts the oldest entries first when maxEntries is reached', () => {
    // Prepare
    const cache = new DataKeyCache({ maxAgeMs: 60_000, maxUses: 10, maxEntries: 2 });
    cache.set('run-1', randomBytes(32));
    cache.set('run-2', randomBytes(32));
    const second = cache.get('run-2')!;

    // Act
    cache.set('run-3', randomBytes(32));
    cache.set('run-4', randomBytes(32));

    // Assess
    expect(cache.size).toBe(2);
    expect(cache.get('run-1')).toBeUndefined();
    expect(cache.get('run-2')).toBeUndefined();
    expect(second.equals(Buffer.alloc(32))).toBe(true);
    expect(cache.get('run-3')).toBeDefined();
    expect(cache.get('run-4')).toBeDefined();
  });

  it.each([
    ['maxAgeMs', { maxAgeMs: 0, maxUses: 1 }],
    ['maxUses', { maxAgeMs: 1, maxUses: 0 }],
    ['maxEntries', { maxAgeMs: 1, maxUses: 1, maxEntries: 0 }],
  ])('refuses a %s below 1', (name, options) => {
    // Act
    const act = () => new DataKeyCache(options);

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(name);
  });
});
