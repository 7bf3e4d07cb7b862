import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DecryptionError } from '../../../lib/errors.ts';
import { openPayload, sealPayload } from '../../../lib/pipeline/claimCheck.ts';

const RUN_ID = '7d1c2f5e-52b1-4d1e-9a0e-6f1f3e2b9c41';

const rows = {
  patients: [
    {
      id: '0f2c8e1a-5b7d-4c3e-8a9f-1b2c3d4e5f60',
      mrnEnc: randomBytes(48),
      ssnEnc: null,
      recordedAt: new Date('2026-11-24T08:00:00.123Z'),
      name: 'Zoë Ŋgata',
    },
  ],
};

describe('claim-check payloads', () => {
  it('reads back JSON payloads as the JSON of what was sealed', () => {
    // Prepare
    const key = randomBytes(32);

    // Act
    const sealed = sealPayload(key, RUN_ID, 'consented', rows);
    const opened = openPayload(key, RUN_ID, 'consented', sealed);

    // Assess
    expect(opened).toStrictEqual(JSON.parse(JSON.stringify(rows)));
  });

  it('reads back binary payloads with their Buffers, Dates, nulls and UTF-16 text as sealed', () => {
    // Prepare
    const key = randomBytes(32);

    // Act
    const sealed = sealPayload(key, RUN_ID, 'transformed', rows, 'binary');
    const opened = openPayload<typeof rows>(key, RUN_ID, 'transformed', sealed);

    // Assess
    expect(opened).toStrictEqual(rows);
    expect(Buffer.isBuffer(opened.patients[0]!.mrnEnc)).toBe(true);
    expect(opened.patients[0]!.recordedAt).toBeInstanceOf(Date);
  });

  it.each([
    ['json', undefined],
    ['binary', 'binary'],
  ] as const)('refuses a %s payload opened for another run or stage', (_label, encoding) => {
    // Prepare
    const key = randomBytes(32);
    const sealed = sealPayload(key, RUN_ID, 'transformed', rows, encoding);

    // Act
    const otherStage = () => openPayload(key, RUN_ID, 'consented', sealed);
    const otherRun = () =>
      openPayload(key, '00000000-0000-4000-8000-000000000000', 'transformed', sealed);

    // Assess
    expect(otherStage).toThrow(DecryptionError);
    expect(otherRun).toThrow(DecryptionError);
  });
});
