import { serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { compressPayload } from '../../../lib/pipeline/payloadCompression.ts';
import { occurrences } from '../../helpers/databaseSweep.ts';

// A name V8 writes as UTF-16, so its UTF-8 bytes are nowhere in the serialized payload.
const NAME = 'Zoë Ŋgata';

describe('the PHI sweep', () => {
  it('finds plaintext in an unencrypted binary payload, strings written as UTF-16 included', () => {
    // Prepare
    const serialized = serialize({ patients: [{ name: NAME, mrn: 'MRN-SWEEP-1' }] });
    const cells = [
      { table: 'stage_payloads', column: 'ciphertext', value: compressPayload(serialized) },
    ];

    // Act
    const found = occurrences(cells, [NAME, 'MRN-SWEEP-1', 'Absent Name']);

    // Assess
    expect(serialized.includes(Buffer.from(NAME, 'utf8'))).toBe(false);
    expect(found).toEqual([
      `${NAME} in stage_payloads.ciphertext`,
      'MRN-SWEEP-1 in stage_payloads.ciphertext',
    ]);
  });

  it('finds plaintext in an unencrypted JSON payload', () => {
    // Prepare
    const cells = [
      {
        table: 'stage_payloads',
        column: 'ciphertext',
        value: compressPayload(JSON.stringify({ name: NAME })),
      },
    ];

    // Act
    const found = occurrences(cells, [NAME]);

    // Assess
    expect(found).toEqual([`${NAME} in stage_payloads.ciphertext`]);
  });
});
