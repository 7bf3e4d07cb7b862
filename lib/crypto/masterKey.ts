import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.ts';

const KEY_LENGTH = 32;

export interface LocalMasterKeyOptions {
  /** An explicit key (LOCAL_MASTER_KEY) wins over the file. */
  readonly masterKey: Buffer | undefined;
  readonly masterKeyFile: string;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** Reads the key file, refusing it like ssh refuses a private key that others can read. */
function readKeyFile(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new ConfigError(`local master key file ${path} is not a regular file`);
    }
    // Windows reports no meaningful permission bits.
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      throw new ConfigError(
        `local master key file ${path} is accessible by group or others (mode ${mode}): chmod 600 it`,
      );
    }
    if (stat.size !== KEY_LENGTH) {
      throw new ConfigError(
        `local master key file ${path} must hold exactly ${KEY_LENGTH} raw bytes, it holds ${stat.size}`,
      );
    }
    const key = Buffer.alloc(KEY_LENGTH);
    if (readSync(fd, key, 0, KEY_LENGTH, 0) !== KEY_LENGTH) {
      throw new ConfigError(`local master key file ${path} could not be read in full`);
    }
    return key;
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates the key file with a fresh key; the first process to publish it wins.
 * The key is written to a private temporary file and hard-linked into place, so
 * a concurrent reader never sees a half-written file.
 */
function createKeyFile(path: string): Buffer {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = randomBytes(KEY_LENGTH);
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temporary, key, { mode: 0o600, flag: 'wx', flush: true });
  try {
    linkSync(temporary, path);
    return key;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return readKeyFile(path);
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/**
 * The embedded-mode master key: `masterKey` when given, otherwise the file
 * `masterKeyFile` holding exactly 32 raw bytes (not base64), created with mode
 * 0600 in a 0700 directory on first use.
 */
export function loadLocalMasterKey(options: LocalMasterKeyOptions): Buffer {
  if (options.masterKey !== undefined) {
    if (options.masterKey.length !== KEY_LENGTH) {
      throw new ConfigError(`the local master key must be ${KEY_LENGTH} bytes`);
    }
    return options.masterKey;
  }
  const path = options.masterKeyFile;
  try {
    return readKeyFile(path);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = errorCode(error);
    if (code !== 'ENOENT') {
      const reason = code ?? 'unknown error';
      throw new ConfigError(`cannot read local master key file ${path} (${reason})`, {
        cause: error,
      });
    }
  }
  try {
    return createKeyFile(path);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const reason = errorCode(error) ?? 'unknown error';
    throw new ConfigError(`cannot create local master key file ${path} (${reason})`, {
      cause: error,
    });
  }
}
