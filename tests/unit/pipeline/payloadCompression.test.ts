import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  compressPayload,
  decompressPayload,
  ZSTD_MAGIC,
} from '../../../lib/pipeline/payloadCompression.ts';

const payload = JSON.stringify({
  records: Array.from({ length: 200 }, (_, index) => ({ index, mrn: `MRN-${index}` })),
});

describe('claim-check payload compression', () => {
  it('writes Zstandard frames that read back to the same JSON, smaller than it', () => {
    // Act
    const compressed = compressPayload(payload);

    // Assess
    expect(compressed.subarray(0, 4)).toEqual(ZSTD_MAGIC);
    expect(compressed.length).toBeLessThan(Buffer.byteLength(payload) / 4);
    expect(decompressPayload(compressed).toString('utf8')).toBe(payload);
  });

  it('reads ciphertext back whole, holding no more memory than it takes', () => {
    // Prepare: bytes that do not shrink, as a payload of Transform's rows mostly is
    const ciphertext = randomBytes(600_000);

    // Act
    const inflated = decompressPayload(compressPayload(ciphertext));

    // Assess
    expect(inflated.equals(ciphertext)).toBe(true);
    expect(inflated.buffer.byteLength).toBeLessThanOrEqual(2 * inflated.length);
  });

  it('refuses bytes that are not a Zstandard frame', () => {
    // Act
    const reading = () => decompressPayload(Buffer.from('not compressed at all'));

    // Assess
    expect(reading).toThrow();
  });
});
