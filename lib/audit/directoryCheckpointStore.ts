import { type FileHandle, mkdir, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AuditCheckpoint,
  type CheckpointStore,
  checkpointName,
  decodeCheckpoint,
  encodeCheckpoint,
} from './auditCheckpoints.ts';

const CHECKPOINT_FILE = /^\d{19}-[1-9]\d{0,18}\.json$/;

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}

/**
 * Embedded mode's checkpoints: one read-only file per checkpoint in a 0700 directory outside
 * the database, created exclusively and fsynced with its directory, off the event loop (a run's
 * end writes one). Unlike S3 Object Lock,
 * the directory's owner can delete them: it bounds what the database's owner alone can do.
 */
export class DirectoryCheckpointStore implements CheckpointStore {
  readonly location: string;

  constructor(directory: string) {
    this.location = directory;
  }

  async write(checkpoint: AuditCheckpoint): Promise<void> {
    await mkdir(this.location, { recursive: true, mode: 0o700 });
    let file: FileHandle;
    try {
      file = await open(join(this.location, checkpointName(checkpoint.seq)), 'wx', 0o400);
    } catch (error) {
      // A checkpoint of this seq is there already: the first one stands.
      if (errorCode(error) === 'EEXIST') return;
      throw error;
    }
    try {
      await file.writeFile(encodeCheckpoint(checkpoint));
      await file.sync();
    } finally {
      await file.close();
    }
    const directory = await open(this.location, 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }

  async latest(): Promise<AuditCheckpoint | undefined> {
    let names: string[];
    try {
      names = await readdir(this.location);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    const newest = names.filter((name) => CHECKPOINT_FILE.test(name)).sort()[0];
    if (newest === undefined) return undefined;
    return decodeCheckpoint(await readFile(join(this.location, newest), 'utf8'));
  }
}
