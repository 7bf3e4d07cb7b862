import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { StageInputError } from '../../../lib/errors.ts';
import { pendingConsentRowsOf } from '../../../lib/pipeline/load.ts';
import type { TransformedPayload } from '../../../lib/pipeline/payloads.ts';
import { thrownBySync } from '../../helpers/thrown.ts';

const ROW = {
  refBidx: randomBytes(32),
  dataSharing: false,
  research: false,
  recordedAt: new Date('2026-01-02T03:04:05.000Z'),
  recordedBy: 'system:feed',
  runId: null,
};

function payloadWith(pendingConsents: readonly unknown[]): TransformedPayload {
  return { patients: [], consents: [], pendingConsents } as unknown as TransformedPayload;
}

describe('pendingConsentRowsOf', () => {
  it('passes on the rows Transform built, and none when there are none', () => {
    // Act
    const rows = pendingConsentRowsOf(payloadWith([ROW]));
    const none = pendingConsentRowsOf({ patients: [], consents: [] });

    // Assess
    expect(rows).toStrictEqual([ROW]);
    expect(none).toStrictEqual([]);
  });

  it.each([
    ['a blind index as base64 text', { ...ROW, refBidx: ROW.refBidx.toString('base64') }],
    ['a time as ISO text', { ...ROW, recordedAt: ROW.recordedAt.toISOString() }],
  ])('refuses %s, as an older version sealed it, instead of storing it', (_, row) => {
    // Act
    const error = thrownBySync(() => pendingConsentRowsOf(payloadWith([ROW, row])));

    // Assess
    expect(error).toBeInstanceOf(StageInputError);
    expect((error as StageInputError).code).toBe('stage-input-invalid');
    expect((error as Error).message).not.toContain(ROW.refBidx.toString('base64'));
  });
});
