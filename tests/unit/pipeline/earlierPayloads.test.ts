import { describe, expect, it } from 'vitest';
import { StageInputError } from '../../../lib/errors.ts';
import { refuseEarlierPayload } from '../../../lib/pipeline/payloads.ts';

describe('refuseEarlierPayload', () => {
  it.each([
    ['validated', { records: [], observations: [] }, ['observations']],
    ['consented', { records: [], linkedObservations: [] }, ['linkedObservations']],
    ['transformed', { patients: [], consents: [], observations: [] }, ['observations']],
  ] as const)(
    'fails a %s payload an earlier version wrote, naming no value, so its Observations are not dropped',
    (_stage, payload, fields) => {
      // Act
      const act = () => refuseEarlierPayload(payload, fields);

      // Assess
      expect(act).toThrow(StageInputError);
      expect(act).toThrow(/earlier version of the pipeline; submit the batch again/);
    },
  );

  it('lets a payload of this version through, whatever else it holds', () => {
    // Act
    const act = () =>
      refuseEarlierPayload({ records: [], resources: [], linkedResources: [] }, ['observations']);

    // Assess
    expect(act).not.toThrow();
  });
});
