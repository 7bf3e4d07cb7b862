import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { InternalError } from '../../../lib/errors.ts';
import { DirectoryPayloadStore } from '../../../lib/pipeline/directoryPayloadStore.ts';
import { thrownBy } from '../../helpers/thrown.ts';

const LOCATION = /^[0-9a-f-]{36}\/extracted-[0-9a-f-]{36}$/;

function locationOf(record: { location: string } | { ciphertext: Buffer }): string {
  if (!('location' in record)) throw new Error('expected a location');
  return record.location;
}

describe('DirectoryPayloadStore', () => {
  let root: string;
  let store: DirectoryPayloadStore;
  const runId = randomUUID();

  beforeEach(() => {
    root = join(mkdtempSync(join(tmpdir(), 'payload-store-')), 'payloads');
    store = new DirectoryPayloadStore(root);
  });

  it('writes each payload whole, under a name of its own, in a 0700 directory of its run as a 0600 file', async () => {
    // Prepare
    const sealed = randomBytes(4096);

    // Act
    const first = locationOf(await store.put(runId, 'extracted', sealed));
    const second = locationOf(await store.put(runId, 'extracted', sealed));

    // Assess
    expect(first).toMatch(LOCATION);
    expect(second).not.toBe(first);
    expect(readFileSync(join(root, first))).toEqual(sealed);
    expect(statSync(join(root, runId)).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, first)).mode & 0o777).toBe(0o600);
    // No temporary file is left once a put returns.
    expect(readdirSync(join(root, runId)).sort()).toEqual(
      [first, second].map((location) => location.slice(runId.length + 1)).sort(),
    );
  });

  it('reads a payload back, and undefined once it is gone', async () => {
    // Prepare
    const sealed = randomBytes(100);
    const location = locationOf(await store.put(runId, 'extracted', sealed));

    // Act
    const read = await store.get(location);
    await store.discard(location);
    const discarded = await store.get(location);

    // Assess
    expect(read).toEqual(sealed);
    expect(discarded).toBeUndefined();
  });

  it('purges a run’s directory and no other run’s', async () => {
    // Prepare
    const other = randomUUID();
    await store.put(runId, 'received', randomBytes(10));
    await store.put(runId, 'extracted', randomBytes(10));
    const kept = locationOf(await store.put(other, 'received', randomBytes(10)));

    // Act
    await store.purgeRun(runId);
    await store.purgeRun(runId);

    // Assess
    expect(existsSync(join(root, runId))).toBe(false);
    expect(existsSync(join(root, kept))).toBe(true);
  });

  it.each([
    ['a path out of the directory', '../../etc/passwd'],
    ['a run directory alone', randomUUID()],
  ])('refuses %s as a location', async (_, location) => {
    // Act
    const thrown = await thrownBy(() => store.get(location));

    // Assess
    expect(thrown).toBeInstanceOf(InternalError);
  });

  it('refuses to purge what is not a run id', async () => {
    // Act
    const thrown = await thrownBy(() => store.purgeRun('..'));

    // Assess
    expect(thrown).toBeInstanceOf(InternalError);
    expect(existsSync(root)).toBe(false);
  });
});
