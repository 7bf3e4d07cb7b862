import { randomBytes } from 'node:crypto';
import type {
  EncryptionContext,
  GeneratedDataKey,
  KeyService,
} from '../../lib/crypto/keyService.ts';
import { LocalKeyService } from '../../lib/crypto/localKeyService.ts';

type Call = { readonly operation: 'generate' | 'decrypt'; readonly context: EncryptionContext };

/**
 * A real LocalKeyService behind a policy that may throw instead: the key-service port
 * failing as KMS would (throttled, refused), without mocking any module.
 */
export class FaultyKeyService implements KeyService {
  readonly calls: Call[] = [];
  readonly #inner = new LocalKeyService(randomBytes(32));
  readonly #fault: (call: Call, attempt: number) => Error | undefined;

  constructor(fault: (call: Call, attempt: number) => Error | undefined) {
    this.#fault = fault;
  }

  get masterKeyId(): string {
    return this.#inner.masterKeyId;
  }

  #check(call: Call): void {
    this.calls.push(call);
    const attempt = this.calls.filter(
      (c) => c.operation === call.operation && c.context['purpose'] === call.context['purpose'],
    ).length;
    const error = this.#fault(call, attempt);
    if (error !== undefined) throw error;
  }

  async generateDataKey(context: EncryptionContext): Promise<GeneratedDataKey> {
    this.#check({ operation: 'generate', context });
    return this.#inner.generateDataKey(context);
  }

  async decryptDataKey(encrypted: Buffer, context: EncryptionContext): Promise<Buffer> {
    this.#check({ operation: 'decrypt', context });
    return this.#inner.decryptDataKey(encrypted, context);
  }
}

export { CountingKeyService } from '../../local/countingKeyService.ts';
