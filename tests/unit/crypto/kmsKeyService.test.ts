import { randomBytes } from 'node:crypto';
import {
  DecryptCommand,
  GenerateDataKeyCommand,
  InvalidCiphertextException,
  KMSClient,
} from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { KmsKeyService } from '../../../lib/crypto/kmsKeyService.ts';
import { KeyServiceRefusedError, KeyServiceUnavailableError } from '../../../lib/errors.ts';

const keyId = 'alias/healthcare-etl';
const keyArn = 'arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const context = { purpose: 'stage-payloads', runId: 'run-1' };

function sdkError(name: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} from the SDK`), { name, ...fields });
}

describe('KmsKeyService', () => {
  const kmsMock = mockClient(KMSClient);
  const service = new KmsKeyService({ client: new KMSClient({ region: 'us-east-1' }), keyId });

  beforeEach(() => {
    kmsMock.reset();
  });

  it('asks GenerateDataKey for an AES-256 key under its key with the exact context', async () => {
    // Prepare
    const plaintext = randomBytes(32);
    const encrypted = randomBytes(184);
    kmsMock.on(GenerateDataKeyCommand).resolves({
      Plaintext: new Uint8Array(plaintext),
      CiphertextBlob: new Uint8Array(encrypted),
      KeyId: keyArn,
    });

    // Act
    const generated = await service.generateDataKey(context);

    // Assess
    const calls = kmsMock.commandCalls(GenerateDataKeyCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      KeyId: keyId,
      KeySpec: 'AES_256',
      EncryptionContext: context,
    });
    expect(Buffer.isBuffer(generated.plaintext)).toBe(true);
    expect(generated.plaintext.equals(plaintext)).toBe(true);
    expect(generated.encrypted.equals(encrypted)).toBe(true);
    expect(generated.masterKeyId).toBe(keyArn);
  });

  it('falls back to its own key id when the response names none', async () => {
    // Prepare
    kmsMock.on(GenerateDataKeyCommand).resolves({
      Plaintext: randomBytes(32),
      CiphertextBlob: randomBytes(184),
    });

    // Act
    const generated = await service.generateDataKey(context);

    // Assess
    expect(generated.masterKeyId).toBe(keyId);
  });

  it('sends Decrypt the ciphertext, its key id and the context', async () => {
    // Prepare
    const encrypted = randomBytes(184);
    const plaintext = randomBytes(32);
    kmsMock.on(DecryptCommand).resolves({ Plaintext: new Uint8Array(plaintext), KeyId: keyArn });

    // Act
    const decrypted = await service.decryptDataKey(encrypted, context);

    // Assess
    const calls = kmsMock.commandCalls(DecryptCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      CiphertextBlob: encrypted,
      EncryptionContext: context,
      KeyId: keyId,
    });
    expect(decrypted.equals(plaintext)).toBe(true);
  });

  it('refuses a wrong encryption context with KeyServiceRefusedError', async () => {
    // Prepare
    kmsMock
      .on(DecryptCommand)
      .rejects(new InvalidCiphertextException({ message: 'invalid ciphertext', $metadata: {} }));
    kmsMock
      .on(DecryptCommand, { EncryptionContext: context })
      .resolves({ Plaintext: randomBytes(32), KeyId: keyArn });
    const encrypted = randomBytes(184);
    await service.decryptDataKey(encrypted, context);

    // Act
    const decrypting = service.decryptDataKey(encrypted, { ...context, runId: 'run-2' });

    // Assess
    await expect(decrypting).rejects.toBeInstanceOf(KeyServiceRefusedError);
    await expect(decrypting).rejects.toMatchObject({
      message: expect.stringContaining('InvalidCiphertextException'),
      cause: expect.objectContaining({ name: 'InvalidCiphertextException' }),
      retryable: false,
    });
  });

  it.each([
    [
      'ThrottlingException',
      sdkError('ThrottlingException', { $metadata: { httpStatusCode: 400 } }),
    ],
    ['KMSInternalException', sdkError('KMSInternalException')],
    ['DependencyTimeoutException', sdkError('DependencyTimeoutException')],
    ['KeyUnavailableException', sdkError('KeyUnavailableException')],
    ['TimeoutError', sdkError('TimeoutError')],
    ['an HTTP 503', sdkError('ServiceUnavailable', { $metadata: { httpStatusCode: 503 } })],
    ['ECONNREFUSED', sdkError('Error', { code: 'ECONNREFUSED' })],
    ['ECONNRESET', sdkError('Error', { code: 'ECONNRESET' })],
    ['ETIMEDOUT', sdkError('Error', { code: 'ETIMEDOUT' })],
  ])('maps %s to a retryable KeyServiceUnavailableError', async (_, failure) => {
    // Prepare
    kmsMock.on(GenerateDataKeyCommand).rejects(failure);

    // Act
    const generating = service.generateDataKey(context);

    // Assess
    await expect(generating).rejects.toBeInstanceOf(KeyServiceUnavailableError);
    await expect(generating).rejects.toMatchObject({ cause: failure, retryable: true });
  });

  it.each([
    [
      'InvalidCiphertextException',
      sdkError('InvalidCiphertextException', { $metadata: { httpStatusCode: 400 } }),
    ],
    [
      'AccessDeniedException',
      sdkError('AccessDeniedException', { $metadata: { httpStatusCode: 400 } }),
    ],
    ['DisabledException', sdkError('DisabledException')],
    ['NotFoundException', sdkError('NotFoundException')],
    ['KMSInvalidStateException', sdkError('KMSInvalidStateException')],
    ['IncorrectKeyException', sdkError('IncorrectKeyException')],
  ])('maps %s to KeyServiceRefusedError', async (_, failure) => {
    // Prepare
    kmsMock.on(DecryptCommand).rejects(failure);

    // Act
    const decrypting = service.decryptDataKey(randomBytes(184), context);

    // Assess
    await expect(decrypting).rejects.toBeInstanceOf(KeyServiceRefusedError);
    await expect(decrypting).rejects.toMatchObject({ cause: failure, retryable: false });
  });

  it('keeps the SDK message out of its own', async () => {
    // Prepare
    kmsMock.on(DecryptCommand).rejects(sdkError('AccessDeniedException'));

    // Act
    const decrypting = service.decryptDataKey(randomBytes(184), context);

    // Assess
    await expect(decrypting).rejects.toThrow('KMS Decrypt refused (AccessDeniedException)');
  });

  it('refuses a response without a key', async () => {
    // Prepare
    kmsMock.on(DecryptCommand).resolves({ KeyId: keyArn });

    // Act
    const decrypting = service.decryptDataKey(randomBytes(184), context);

    // Assess
    await expect(decrypting).rejects.toBeInstanceOf(KeyServiceRefusedError);
  });
});
