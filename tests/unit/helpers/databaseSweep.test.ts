import { serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { compressPayload } from '../../../lib/pipeline/payloadCompression.ts';
import { occurrences } from '../../helpers/databaseSweep.ts';

// V8 writes the first as UTF-16 and the second as Latin-1: neither's UTF-8 bytes appear.
const UTF16_NAME = 'Zoë Ŋgata';
const LATIN1_NAME = 'Zoë Quinn';
const QUOTED_NAME = 'Ann "Nan" O\'Neil';

function payloadCell(encoded: string | Buffer) {
  return { table: 'stage_payloads', column: 'ciphertext', value: compressPayload(encoded) };
}

describe('the PHI sweep', () => {
  it('finds plaintext in an unencrypted binary payload, whatever encoding V8 chose for it', () => {
    // Prepare
    const serialized = serialize({
      patients: [{ name: UTF16_NAME, mrn: 'MRN-SWEEP-1' }, { name: LATIN1_NAME }],
      aliases: new Map([['alias', QUOTED_NAME]]),
    });
    const cells = [payloadCell(serialized)];

    // Act
    const found = occurrences(cells, [
      UTF16_NAME,
      LATIN1_NAME,
      QUOTED_NAME,
      'MRN-SWEEP-1',
      'Absent Name',
    ]);

    // Assess
    expect(serialized.includes(Buffer.from(UTF16_NAME, 'utf8'))).toBe(false);
    expect(serialized.includes(Buffer.from(LATIN1_NAME, 'utf8'))).toBe(false);
    expect(found).toEqual([
      `${UTF16_NAME} in stage_payloads.ciphertext`,
      `${LATIN1_NAME} in stage_payloads.ciphertext`,
      `${QUOTED_NAME} in stage_payloads.ciphertext`,
      'MRN-SWEEP-1 in stage_payloads.ciphertext',
    ]);
  });

  it('finds plaintext in an unencrypted JSON payload', () => {
    // Prepare
    const cells = [payloadCell(JSON.stringify({ name: UTF16_NAME }))];

    // Act
    const found = occurrences(cells, [UTF16_NAME]);

    // Assess
    expect(found).toEqual([`${UTF16_NAME} in stage_payloads.ciphertext`]);
  });
});
