export {
  type BlindIndexKind,
  blindIndex,
  deterministicId,
  normalizeMrn,
  normalizeSsn,
} from './blindIndex.ts';
export { DataKeyCache, type DataKeyCacheOptions } from './dataKeyCache.ts';
export { decryptField, decryptFieldText, encryptField, type FieldAad } from './fieldCipher.ts';
export type { EncryptionContext, GeneratedDataKey, KeyService } from './keyService.ts';
export {
  createKmsClient,
  type KmsClientOptions,
  KmsKeyService,
  type KmsKeyServiceOptions,
} from './kmsKeyService.ts';
export { LocalKeyService } from './localKeyService.ts';
export { type LocalMasterKeyOptions, loadLocalMasterKey } from './masterKey.ts';
