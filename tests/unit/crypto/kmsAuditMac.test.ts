import { randomBytes } from 'node:crypto';
import { GenerateMacCommand, KMSClient, VerifyMacCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { KmsAuditMac } from '../../../lib/crypto/kmsAuditMac.ts';
import { KeyServiceRefusedError, KeyServiceUnavailableError } from '../../../lib/errors.ts';

const keyId = 'arn:aws:kms:us-east-1:000000000000:key/mac-1234';
const message = Buffer.from('healthcare-etl/audit-seal/v1|42|00ff', 'utf8');

function sdkError(name: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} from the SDK`), { name, ...fields });
}

describe('KmsAuditMac', () => {
  const kmsMock = mockClient(KMSClient);
  const mac = new KmsAuditMac({ client: new KMSClient({ region: 'us-east-1' }), keyId });

  beforeEach(() => {
    kmsMock.reset();
  });

  it('asks GenerateMac for HMAC_SHA_256 over the message under its key, once', async () => {
    // Prepare
    const made = randomBytes(32);
    kmsMock.on(GenerateMacCommand).resolves({ Mac: new Uint8Array(made), KeyId: keyId });

    // Act
    const result = await mac.generateMac(message);

    // Assess
    const calls = kmsMock.commandCalls(GenerateMacCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      KeyId: keyId,
      MacAlgorithm: 'HMAC_SHA_256',
      Message: message,
    });
    expect(result.equals(made)).toBe(true);
    expect(mac.keyId).toBe(keyId);
  });

  it('asks VerifyMac with the message and the MAC, and answers what KMS says', async () => {
    // Prepare
    const given = randomBytes(32);
    kmsMock.on(VerifyMacCommand).resolves({ MacValid: true, KeyId: keyId });

    // Act
    const valid = await mac.verifyMac(message, given);

    // Assess
    expect(valid).toBe(true);
    expect(kmsMock.commandCalls(VerifyMacCommand)[0]!.args[0].input).toEqual({
      KeyId: keyId,
      MacAlgorithm: 'HMAC_SHA_256',
      Message: message,
      Mac: given,
    });
  });

  it('answers false to a MAC KMS refuses as invalid (KMSInvalidMacException)', async () => {
    // Prepare
    kmsMock.on(VerifyMacCommand).rejects(sdkError('KMSInvalidMacException'));

    // Act
    const valid = await mac.verifyMac(message, randomBytes(32));

    // Assess
    expect(valid).toBe(false);
  });

  it.each([
    [
      'GenerateMac',
      () => kmsMock.on(GenerateMacCommand).rejects(sdkError('ThrottlingException')),
      () => mac.generateMac(message),
    ],
    [
      'VerifyMac',
      () => kmsMock.on(VerifyMacCommand).rejects(sdkError('ThrottlingException')),
      () => mac.verifyMac(message, randomBytes(32)),
    ],
  ] as const)(
    'maps %s throttling to KeyServiceUnavailableError, by name only',
    async (operation, throttle, call) => {
      // Prepare
      throttle();

      // Act
      const error = await call().then(
        () => undefined,
        (thrown: unknown) => thrown,
      );

      // Assess
      expect(error).toBeInstanceOf(KeyServiceUnavailableError);
      expect((error as Error).message).toBe(`KMS ${operation} unavailable (ThrottlingException)`);
    },
  );

  it.each([
    ['a refusal', sdkError('AccessDeniedException')],
    ['a key of the wrong usage', sdkError('InvalidKeyUsageException')],
  ])('maps %s to KeyServiceRefusedError', async (_, failure) => {
    // Prepare
    kmsMock.on(GenerateMacCommand).rejects(failure);

    // Act
    const error = await mac.generateMac(message).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    // Assess
    expect(error).toBeInstanceOf(KeyServiceRefusedError);
  });

  it('refuses an answer without a MAC', async () => {
    // Prepare
    kmsMock.on(GenerateMacCommand).resolves({ KeyId: keyId });

    // Act
    const error = await mac.generateMac(message).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );

    // Assess
    expect(error).toBeInstanceOf(KeyServiceRefusedError);
  });
});
