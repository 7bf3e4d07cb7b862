import { randomUUID } from 'node:crypto';
import { link, mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
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
    const name = checkpointName(checkpoint.seq);
    // Written whole and synced under a name latest() never reads, then linked to its own name:
    // no reader, in this process or after a crash, ever finds a checkpoint half written.
    const temporary = join(this.location, `.${name}.${randomUUID()}.partial`);
    const file = await open(temporary, 'wx', 0o400);
    try {
      await file.writeFile(encodeCheckpoint(checkpoint));
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await link(temporary, join(this.location, name));
    } catch (error) {
      // A checkpoint of this seq is there already: the first one stands.
      if (errorCode(error) !== 'EEXIST') throw error;
    } finally {
      await unlink(temporary);
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
