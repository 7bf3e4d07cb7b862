import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalKeyService } from '../../../lib/crypto/localKeyService.ts';
import { loadLocalMasterKey } from '../../../lib/crypto/masterKey.ts';
import { ConfigError, KeyServiceRefusedError } from '../../../lib/errors.ts';

const context = { purpose: 'stage-payloads', runId: 'run-1' };

function flipped(bytes: Buffer, index: number): Buffer {
  const copy = Buffer.from(bytes);
  copy.writeUInt8(copy.readUInt8(index) ^ 0x01, index);
  return copy;
}

describe('LocalKeyService', () => {
  const service = new LocalKeyService(randomBytes(32));

  it('generates a 32-byte data key wrapped as version 1, IV, key and tag', async () => {
    // Act
    const generated = await service.generateDataKey(context);

    // Assess
    expect(generated.plaintext.length).toBe(32);
    expect(generated.encrypted.length).toBe(1 + 12 + 32 + 16);
    expect(generated.encrypted[0]).toBe(1);
    expect(generated.masterKeyId).toBe('local');
  });

  it.each([
    ['the same context', { purpose: 'stage-payloads', runId: 'run-1' }],
    [
      'the same context with its keys in another order',
      { runId: 'run-1', purpose: 'stage-payloads' },
    ],
  ])('decrypts the data key with %s', async (_, sameContext) => {
    // Prepare
    const generated = await service.generateDataKey(context);

    // Act
    const decrypted = await service.decryptDataKey(generated.encrypted, sameContext);

    // Assess
    expect(decrypted.equals(generated.plaintext)).toBe(true);
  });

  it.each([
    ['another run id', { purpose: 'stage-payloads', runId: 'run-2' }],
    ['another purpose', { purpose: 'blind-index', runId: 'run-1' }],
    ['an extra entry', { ...context, tenant: 'a' }],
    ['a missing entry', { purpose: 'stage-payloads' }],
    ['an empty context', {}],
  ])('refuses %s', async (_, wrongContext) => {
    // Prepare
    const generated = await service.generateDataKey(context);

    // Act
    const decrypting = service.decryptDataKey(generated.encrypted, wrongContext);

    // Assess
    await expect(decrypting).rejects.toBeInstanceOf(KeyServiceRefusedError);
  });

  it('refuses a data key wrapped under another master key, without key bytes in the message', async () => {
    // Prepare
    const generated = await new LocalKeyService(randomBytes(32)).generateDataKey(context);

    // Act
    const error: unknown = await service
      .decryptDataKey(generated.encrypted, context)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(KeyServiceRefusedError);
    const message = (error as Error).message;
    expect(message).not.toContain(generated.plaintext.toString('hex'));
    expect(message).not.toContain(generated.plaintext.toString('base64'));
  });

  it.each([
    ['a flipped IV byte', (wrapped: Buffer) => flipped(wrapped, 5)],
    ['a flipped key byte', (wrapped: Buffer) => flipped(wrapped, 20)],
    ['a flipped tag byte', (wrapped: Buffer) => flipped(wrapped, wrapped.length - 1)],
    ['an unknown version', (wrapped: Buffer) => flipped(wrapped, 0)],
    ['a truncated key', (wrapped: Buffer) => wrapped.subarray(0, wrapped.length - 1)],
  ])('refuses %s', async (_, tamper) => {
    // Prepare
    const generated = await service.generateDataKey(context);

    // Act
    const decrypting = service.decryptDataKey(tamper(generated.encrypted), context);

    // Assess
    await expect(decrypting).rejects.toBeInstanceOf(KeyServiceRefusedError);
  });

  it('refuses a master key that is not 32 bytes', () => {
    // Act
    const act = () => new LocalKeyService(randomBytes(16));

    // Assess
    expect(act).toThrow(ConfigError);
  });
});

describe('loadLocalMasterKey', () => {
  let directory: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'master-key-'));
  });

  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('creates a 32-byte key file with mode 0600 in a 0700 directory', () => {
    // Prepare
    const masterKeyFile = join(directory, 'keys', 'master.key');

    // Act
    const key = loadLocalMasterKey({ masterKey: undefined, masterKeyFile });

    // Assess
    expect(key.length).toBe(32);
    expect(statSync(masterKeyFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(directory, 'keys')).mode & 0o777).toBe(0o700);
    expect(readFileSync(masterKeyFile).equals(key)).toBe(true);
  });

  it('reads back the key it created', () => {
    // Prepare
    const masterKeyFile = join(directory, 'master.key');
    const created = loadLocalMasterKey({ masterKey: undefined, masterKeyFile });

    // Act
    const loaded = loadLocalMasterKey({ masterKey: undefined, masterKeyFile });

    // Assess
    expect(loaded.equals(created)).toBe(true);
  });

  it('lets an explicit master key win over the file', () => {
    // Prepare
    const masterKeyFile = join(directory, 'master.key');
    loadLocalMasterKey({ masterKey: undefined, masterKeyFile });
    const explicit = randomBytes(32);

    // Act
    const loaded = loadLocalMasterKey({ masterKey: explicit, masterKeyFile });

    // Assess
    expect(loaded.equals(explicit)).toBe(true);
  });

  it('does not create a file when the master key is explicit', () => {
    // Prepare
    const masterKeyFile = join(directory, 'master.key');

    // Act
    loadLocalMasterKey({ masterKey: randomBytes(32), masterKeyFile });

    // Assess
    expect(() => statSync(masterKeyFile)).toThrow(/ENOENT/);
  });

  it.each([
    ['readable by group and others (0644)', 32, 0o644, /group or others/],
    ['writable by group (0620)', 32, 0o620, /group or others/],
    ['too short', 31, 0o600, /exactly 32 raw bytes/],
    ['too long (base64 text)', 44, 0o600, /exactly 32 raw bytes/],
  ])('refuses a key file %s, naming the path but no key bytes', (_, length, mode, reason) => {
    // Prepare
    const masterKeyFile = join(directory, 'master.key');
    const contents = randomBytes(length);
    writeFileSync(masterKeyFile, contents, { mode: 0o600 });
    chmodSync(masterKeyFile, mode);

    // Act
    let error: unknown;
    try {
      loadLocalMasterKey({ masterKey: undefined, masterKeyFile });
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(reason);
    expect(message).toContain(masterKeyFile);
    expect(message).not.toContain(contents.toString('hex'));
    expect(message).not.toContain(contents.toString('base64'));
  });
});
