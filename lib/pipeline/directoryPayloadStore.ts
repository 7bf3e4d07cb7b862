import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { StagePayloadRecord } from '../db/repositories/stagePayloads.ts';
import {
  checkedLocation,
  checkedRunId,
  type PayloadStore,
  payloadLocation,
} from './payloadStore.ts';

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}

async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

/**
 * Embedded mode's payloads: one 0700 directory per run, one 0600 file per payload, written
 * under a temporary name, fsynced, renamed and its directory fsynced, so that it is durable
 * before the stage's transaction records it.
 */
export class DirectoryPayloadStore implements PayloadStore {
  readonly location: string;

  constructor(directory: string) {
    this.location = directory;
  }

  async put(runId: string, payload: string, sealed: Buffer): Promise<StagePayloadRecord> {
    const location = payloadLocation(runId, payload, randomUUID());
    const path = join(this.location, location);
    const runDirectory = dirname(path);
    const created = await mkdir(runDirectory, { recursive: true, mode: 0o700 });
    // The directories made now are durable once their entries in their parents are.
    if (created !== undefined) {
      for (let made = runDirectory; made !== dirname(made); made = dirname(made)) {
        await syncDirectory(dirname(made));
        if (made === created) break;
      }
    }
    const temporary = `${path}.partial`;
    const file = await open(temporary, 'wx', 0o600);
    try {
      await file.writeFile(sealed);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
    await syncDirectory(runDirectory);
    return { location };
  }

  async get(location: string): Promise<Buffer | undefined> {
    try {
      return await readFile(join(this.location, checkedLocation(location)));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
  }

  async discard(location: string): Promise<void> {
    await rm(join(this.location, checkedLocation(location)), { force: true });
  }

  async purgeRun(runId: string): Promise<void> {
    await rm(join(this.location, checkedRunId(runId)), { recursive: true, force: true });
    // The removal made durable before the rows naming the run go: a power loss must not bring
    // back a directory that no row names, which nothing would purge again.
    try {
      await syncDirectory(this.location);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
  }
}
