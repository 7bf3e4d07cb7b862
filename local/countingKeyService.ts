import type { EncryptionContext, GeneratedDataKey, KeyService } from '../lib/crypto/keyService.ts';

export interface KeyServiceCall {
  readonly operation: 'generate' | 'decrypt';
  readonly context: EncryptionContext;
}

/** A KeyService with every call it passes on recorded: key-service calls per run are a budget. */
export class CountingKeyService implements KeyService {
  readonly calls: KeyServiceCall[] = [];
  readonly #inner: KeyService;

  constructor(inner: KeyService) {
    this.#inner = inner;
  }

  get masterKeyId(): string {
    return this.#inner.masterKeyId;
  }

  count(operation: KeyServiceCall['operation']): number {
    return this.calls.filter((call) => call.operation === operation).length;
  }

  async generateDataKey(context: EncryptionContext): Promise<GeneratedDataKey> {
    this.calls.push({ operation: 'generate', context });
    return this.#inner.generateDataKey(context);
  }

  async decryptDataKey(encrypted: Buffer, context: EncryptionContext): Promise<Buffer> {
    this.calls.push({ operation: 'decrypt', context });
    return this.#inner.decryptDataKey(encrypted, context);
  }
}
