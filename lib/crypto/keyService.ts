/**
 * The port every use case depends on: one master key wraps and unwraps data
 * keys. Adapters: KmsKeyService (AWS and LocalStack), LocalKeyService (embedded mode).
 */

/** Bound to each wrapped key; decrypting with any other context is refused. */
export type EncryptionContext = Readonly<Record<string, string>>;

export interface GeneratedDataKey {
  /** AES-256 key (32 bytes): keep it in memory only, never log it. */
  readonly plaintext: Buffer;
  /** The same key wrapped under the master key: safe to store. */
  readonly encrypted: Buffer;
  readonly masterKeyId: string;
}

export interface KeyService {
  readonly masterKeyId: string;
  /** A fresh AES-256 (32-byte) data key, wrapped under the master key with `context`. */
  generateDataKey(context: EncryptionContext): Promise<GeneratedDataKey>;
  /** Unwraps a data key; refuses (KeyServiceRefusedError) a context other than the one it was wrapped with. */
  decryptDataKey(encrypted: Buffer, context: EncryptionContext): Promise<Buffer>;
}
