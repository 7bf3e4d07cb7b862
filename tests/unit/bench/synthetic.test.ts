import { describe, expect, it } from 'vitest';
import { batchRuns, syntheticPatient } from '../../../bench/synthetic.ts';
import { createPatientRecordValidator } from '../../../lib/fhir/validation.ts';

const validator = createPatientRecordValidator();

describe("the benchmark's synthetic input", () => {
  it('draws about 5% schema-invalid patients and about 90% consent among the rest, each as the real validator judges it', () => {
    // Prepare
    const patients = Array.from({ length: 10_000 }, (_, index) => syntheticPatient(index));

    // Act
    const invalid = patients.filter(({ kind }) => kind === 'invalid');
    const valid = patients.filter(({ kind }) => kind !== 'invalid');
    const consented = valid.filter(({ kind }) => kind === 'consented');

    // Assess
    expect(invalid.length / patients.length).toBeGreaterThan(0.04);
    expect(invalid.length / patients.length).toBeLessThan(0.06);
    expect(consented.length / valid.length).toBeGreaterThan(0.88);
    expect(consented.length / valid.length).toBeLessThan(0.92);
    for (const { record } of invalid) expect(validator(record).ok).toBe(false);
    for (const { record } of valid) expect(validator(record).ok).toBe(true);
    for (const { record } of consented) {
      expect(record['consent']).toMatchObject({ data_sharing: true });
    }
  });

  it('gives patient i the same record whatever the batch size', () => {
    // Act
    const small = batchRuns(3, { patients: 1_000, batchSize: 10, observations: 2 });
    const large = batchRuns(0, { patients: 1_000, batchSize: 100, observations: 2 });

    // Assess
    const recordsOf = (body: string) => (JSON.parse(body) as { records: unknown[] }).records;
    expect(recordsOf(small[0]?.body ?? '')).toEqual(recordsOf(large[0]?.body ?? '').slice(30, 40));
  });

  it("sends a batch's patients first, then their observations in runs of at most the batch size", () => {
    // Act
    const runs = batchRuns(1, { patients: 250, batchSize: 100, observations: 3 });

    // Assess
    expect(runs.map(({ kind, records }) => [kind, records])).toEqual([
      ['patients', 100],
      ['observations', 100],
      ['observations', 100],
      ['observations', 100],
    ]);
    const lines = runs.slice(1).flatMap(({ body }) => body.trimEnd().split('\n'));
    const subjects = new Set(
      lines.map(
        (line) =>
          (JSON.parse(line) as { subject: { identifier: { value: string } } }).subject.identifier
            .value,
      ),
    );
    expect(subjects.size).toBe(100);
    expect([...subjects].every((mrn) => /^BENCH-0000001\d\d$/.test(mrn))).toBe(true);
  });
});
