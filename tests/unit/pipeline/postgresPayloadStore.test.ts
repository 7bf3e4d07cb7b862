import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { InternalError } from '../../../lib/errors.ts';
import { DirectoryPayloadStore } from '../../../lib/pipeline/directoryPayloadStore.ts';
import { PostgresPayloadStore } from '../../../lib/pipeline/payloadStore.ts';
import { thrownBy } from '../../helpers/thrown.ts';

function locationOf(record: { location: string } | { ciphertext: Buffer }): string {
  if (!('location' in record)) throw new Error('expected a location');
  return record.location;
}

describe('PostgresPayloadStore', () => {
  let root: string;
  let directory: DirectoryPayloadStore;
  const runId = randomUUID();

  beforeEach(() => {
    root = join(mkdtempSync(join(tmpdir(), 'payload-store-')), 'payloads');
    directory = new DirectoryPayloadStore(root);
  });

  it('keeps a new payload inline, writing nothing outside the database', async () => {
    // Prepare
    const store = new PostgresPayloadStore(directory);
    const sealed = randomBytes(256);

    // Act
    const record = await store.put(runId, 'extracted', sealed);

    // Assess
    expect(record).toStrictEqual({ ciphertext: sealed });
    expect(existsSync(root)).toBe(false);
  });

  it('reads and purges what a run recorded in the directory before PAYLOAD_STORE=postgres', async () => {
    // Prepare: a run's payload written while the directory was the store.
    const sealed = randomBytes(256);
    const location = locationOf(await directory.put(runId, 'extracted', sealed));
    const store = new PostgresPayloadStore(directory);

    // Act
    const read = await store.get(location);
    await store.purgeRun(runId);

    // Assess
    expect(read).toEqual(sealed);
    expect(existsSync(join(root, runId))).toBe(false);
    expect(await store.get(location)).toBeUndefined();
  });

  it('discards an unrecorded attempt’s file where it was written', async () => {
    // Prepare
    const location = locationOf(await directory.put(runId, 'validated', randomBytes(64)));
    const store = new PostgresPayloadStore(directory);

    // Act
    await store.discard(location);

    // Assess
    expect(existsSync(join(root, location))).toBe(false);
  });

  it('refuses a located payload when no earlier store is given, rather than calling it gone', async () => {
    // Prepare
    const location = locationOf(await directory.put(runId, 'extracted', randomBytes(64)));
    const store = new PostgresPayloadStore();

    // Act
    const error = await thrownBy(() => store.get(location));

    // Assess
    expect(error).toBeInstanceOf(InternalError);
    expect(existsSync(join(root, location))).toBe(true);
  });
});
