import { ConfigError } from '../errors.ts';
import { readOrCreateSecretFile } from './secretFile.ts';

const KEY_LENGTH = 32;

export interface LocalMasterKeyOptions {
  /** An explicit key (LOCAL_MASTER_KEY) wins over the file. */
  readonly masterKey: Buffer | undefined;
  readonly masterKeyFile: string;
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
  return readOrCreateSecretFile(options.masterKeyFile, {
    what: 'local master key file',
    minBytes: KEY_LENGTH,
    maxBytes: KEY_LENGTH,
    createBytes: KEY_LENGTH,
  });
}
