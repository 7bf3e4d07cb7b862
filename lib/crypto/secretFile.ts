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

/** What a secret file holds: raw random bytes, with the sizes accepted and the size created. */
export interface SecretFileSpec {
  /** How messages name the file, e.g. 'local master key file'. */
  readonly what: string;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly createBytes: number;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** Reads the file, refusing it like ssh refuses a private key that others can read. */
function readSecretFile(path: string, spec: SecretFileSpec): Buffer {
  const fd = openSync(path, 'r');
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new ConfigError(`${spec.what} ${path} is not a regular file`);
    // Windows reports no meaningful permission bits.
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
      throw new ConfigError(
        `${spec.what} ${path} is accessible by group or others (mode ${mode}): chmod 600 it`,
      );
    }
    if (stat.size < spec.minBytes || stat.size > spec.maxBytes) {
      const expected =
        spec.minBytes === spec.maxBytes ? `exactly ${spec.minBytes}` : `at least ${spec.minBytes}`;
      throw new ConfigError(
        `${spec.what} ${path} must hold ${expected} raw bytes, it holds ${stat.size}`,
      );
    }
    const secret = Buffer.alloc(stat.size);
    if (readSync(fd, secret, 0, stat.size, 0) !== stat.size) {
      throw new ConfigError(`${spec.what} ${path} could not be read in full`);
    }
    return secret;
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates the file with fresh random bytes; the first process to publish it wins. The bytes
 * go to a private temporary file that is hard-linked into place, so no reader sees half a file.
 */
function createSecretFile(path: string, spec: SecretFileSpec): Buffer {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const secret = randomBytes(spec.createBytes);
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temporary, secret, { mode: 0o600, flag: 'wx', flush: true });
  try {
    linkSync(temporary, path);
    return secret;
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return readSecretFile(path, spec);
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** The secret in `path`, created (mode 0600, in a 0700 directory) when absent. */
export function readOrCreateSecretFile(path: string, spec: SecretFileSpec): Buffer {
  try {
    return readSecretFile(path, spec);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = errorCode(error);
    if (code !== 'ENOENT') {
      throw new ConfigError(`cannot read ${spec.what} ${path} (${code ?? 'unknown error'})`, {
        cause: error,
      });
    }
  }
  try {
    return createSecretFile(path, spec);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      `cannot create ${spec.what} ${path} (${errorCode(error) ?? 'unknown error'})`,
      { cause: error },
    );
  }
}
