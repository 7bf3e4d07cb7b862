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

  it('refuses bytes that are not a Zstandard frame', () => {
    // Act
    const reading = () => decompressPayload(Buffer.from('not compressed at all'));

    // Assess
    expect(reading).toThrow();
  });
});
