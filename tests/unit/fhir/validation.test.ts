import { describe, expect, it } from 'vitest';
import type { PatientRecord } from '../../../lib/fhir/model.ts';
import type { SchemaProblem } from '../../../lib/fhir/validation.ts';
import {
  createFlatEnvelopeValidator,
  createPatientRecordValidator,
} from '../../../lib/fhir/validation.ts';

// At 12:00 UTC it is already the next day (2025-06-16) in UTC+14.
const NOW = new Date('2025-06-15T12:00:00Z');
const fixedClock = (): Date => NOW;

const designRecord = {
  resourceType: 'Patient',
  mrn: 'MRN-001',
  name: 'Jane Doe',
  birthDate: '1990-01-15',
  gender: 'female',
  ssn: '123-45-6789',
  consent: { data_sharing: true, research: false },
} satisfies PatientRecord;

const BIRTH_DATE_MESSAGE =
  'must be a real calendar date YYYY-MM-DD from 1850 on, not in the future';

function problem(path: string, keyword: string, message: string): SchemaProblem {
  return { path, keyword, message };
}

function utcDatePlusDays(days: number): string {
  return new Date(Date.now() + days * 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
}

describe('createPatientRecordValidator', () => {
  it.each([
    { label: 'the DESIGN.md record', record: designRecord },
    { label: 'the minimal record', record: { resourceType: 'Patient', mrn: 'MRN-001' } },
    { label: 'a leap day', record: { ...designRecord, birthDate: '2024-02-29' } },
    { label: 'the earliest birth year', record: { ...designRecord, birthDate: '1850-01-01' } },
    { label: 'a Synthea 999 SSN', record: { ...designRecord, ssn: '999-12-3456' } },
    {
      label: 'an extra boolean consent flag',
      record: { ...designRecord, consent: { data_sharing: true, marketing: false } },
    },
    { label: 'a 64-character MRN', record: { ...designRecord, mrn: 'M'.repeat(64) } },
    { label: 'an MRN with an inner space', record: { ...designRecord, mrn: 'MRN 001' } },
  ])('accepts $label', ({ record }) => {
    // Prepare
    const validate = createPatientRecordValidator({ now: fixedClock });

    // Act
    const result = validate(record);

    // Assess
    expect(result).toEqual({ ok: true, value: record });
  });

  const invalidCases: ReadonlyArray<{
    label: string;
    record: unknown;
    offending: unknown;
    problems: SchemaProblem[];
  }> = [
    {
      label: 'birthDate on a non-leap Feb 29',
      record: { ...designRecord, birthDate: '2023-02-29' },
      offending: '2023-02-29',
      problems: [problem('/birthDate', 'format', BIRTH_DATE_MESSAGE)],
    },
    {
      label: 'birthDate in month 13',
      record: { ...designRecord, birthDate: '1990-13-01' },
      offending: '1990-13-01',
      problems: [problem('/birthDate', 'format', BIRTH_DATE_MESSAGE)],
    },
    {
      label: 'birthDate on Feb 30',
      record: { ...designRecord, birthDate: '1990-02-30' },
      offending: '1990-02-30',
      problems: [problem('/birthDate', 'format', BIRTH_DATE_MESSAGE)],
    },
    {
      label: 'birthDate without zero padding',
      record: { ...designRecord, birthDate: '1990-1-5' },
      offending: '1990-1-5',
      problems: [problem('/birthDate', 'format', BIRTH_DATE_MESSAGE)],
    },
    {
      label: 'birthDate two days ahead',
      record: { ...designRecord, birthDate: '2025-06-17' },
      offending: '2025-06-17',
      problems: [problem('/birthDate', 'format', BIRTH_DATE_MESSAGE)],
    },
    {
      label: 'birthDate before 1850',
      record: { ...designRecord, birthDate: '1800-01-01' },
      offending: '1800-01-01',
      problems: [problem('/birthDate', 'format', BIRTH_DATE_MESSAGE)],
    },
    {
      label: 'birthDate as a number',
      record: { ...designRecord, birthDate: 19900115 },
      offending: 19900115,
      problems: [problem('/birthDate', 'type', 'must be string')],
    },
    {
      label: 'a missing mrn',
      record: { resourceType: 'Patient', name: 'Jane Doe' },
      offending: 'Jane Doe',
      problems: [problem('', 'required', 'is required: mrn')],
    },
    {
      label: 'an empty mrn',
      record: { ...designRecord, mrn: '' },
      offending: '',
      problems: [
        problem('/mrn', 'minLength', 'must be at least 1 character long'),
        problem('/mrn', 'pattern', 'must be printable ASCII without leading or trailing spaces'),
      ],
    },
    {
      label: 'a 65-character mrn',
      record: { ...designRecord, mrn: 'M'.repeat(65) },
      offending: 'M'.repeat(65),
      problems: [problem('/mrn', 'maxLength', 'must be at most 64 characters long')],
    },
    {
      label: 'an mrn with a newline',
      record: { ...designRecord, mrn: 'MRN\n001' },
      offending: 'MRN\n001',
      problems: [
        problem('/mrn', 'pattern', 'must be printable ASCII without leading or trailing spaces'),
      ],
    },
    {
      label: 'an mrn with a trailing space',
      record: { ...designRecord, mrn: 'MRN-001 ' },
      offending: 'MRN-001 ',
      problems: [
        problem('/mrn', 'pattern', 'must be printable ASCII without leading or trailing spaces'),
      ],
    },
    {
      label: 'an SSN without dashes',
      record: { ...designRecord, ssn: '123456789' },
      offending: '123456789',
      problems: [problem('/ssn', 'pattern', 'must match NNN-NN-NNNN')],
    },
    {
      label: 'an SSN one digit short',
      record: { ...designRecord, ssn: '123-45-678' },
      offending: '123-45-678',
      problems: [problem('/ssn', 'pattern', 'must match NNN-NN-NNNN')],
    },
    {
      label: 'an SSN of letters',
      record: { ...designRecord, ssn: 'abc-de-fghi' },
      offending: 'abc-de-fghi',
      problems: [problem('/ssn', 'pattern', 'must match NNN-NN-NNNN')],
    },
    {
      label: 'gender F',
      record: { ...designRecord, gender: 'F' },
      offending: 'F',
      problems: [problem('/gender', 'enum', 'must be one of male, female, other, unknown')],
    },
    {
      label: 'mrn as a number',
      record: { ...designRecord, mrn: 12345 },
      offending: 12345,
      problems: [problem('/mrn', 'type', 'must be string')],
    },
    {
      label: 'consent as a string',
      record: { ...designRecord, consent: 'yes please' },
      offending: 'yes please',
      problems: [problem('/consent', 'type', 'must be object')],
    },
    {
      label: 'consent.data_sharing as a string',
      record: { ...designRecord, consent: { data_sharing: 'yes', research: false } },
      offending: 'yes',
      problems: [problem('/consent/data_sharing', 'type', 'must be boolean')],
    },
    {
      label: 'an extra property',
      record: { ...designRecord, nickname: 'Janie' },
      offending: 'nickname',
      problems: [problem('', 'additionalProperties', 'unexpected property')],
    },
    {
      label: 'resourceType Observation',
      record: { ...designRecord, resourceType: 'Observation' },
      offending: 'Observation',
      problems: [problem('/resourceType', 'const', 'must equal Patient')],
    },
  ];

  it.each(invalidCases)('rejects $label', ({ record, problems }) => {
    // Prepare
    const validate = createPatientRecordValidator({ now: fixedClock });

    // Act
    const result = validate(record);

    // Assess
    expect(result).toEqual({ ok: false, problems });
  });

  it.each(invalidCases.filter(({ offending }) => String(offending).length >= 3))(
    'does not echo the offending value for $label',
    ({ record, offending }) => {
      // Prepare
      const validate = createPatientRecordValidator({ now: fixedClock });

      // Act
      const serialised = JSON.stringify(validate(record));

      // Assess
      expect(serialised).toContain('"ok":false');
      expect(serialised).not.toContain(String(offending));
      expect(serialised).not.toContain(JSON.stringify(String(offending)).slice(1, -1));
    },
  );

  it.each<{ label: string; record: unknown; problems: SchemaProblem[] }>([
    {
      label: 'in consent',
      record: { ...designRecord, consent: { data_sharing: true, 'Jane Doe': 'Jane Doe' } },
      problems: [problem('/consent/*', 'type', 'must be boolean')],
    },
    {
      label: 'at the top level',
      record: { ...designRecord, 'Jane Doe': true },
      problems: [problem('', 'additionalProperties', 'unexpected property')],
    },
    {
      label: 'in consent, named like an Object.prototype member',
      record: { ...designRecord, consent: { constructor: 'Jane Doe' } },
      problems: [problem('/consent/*', 'type', 'must be boolean')],
    },
    {
      label: 'in consent, escaped as a JSON pointer',
      record: { ...designRecord, consent: { 'Jane/Doe~': 'Jane Doe' } },
      problems: [problem('/consent/*', 'type', 'must be boolean')],
    },
  ])('masks an unexpected key $label', ({ record, problems }) => {
    // Prepare
    const validate = createPatientRecordValidator({ now: fixedClock });

    // Act
    const result = validate(record);

    // Assess
    expect(result).toEqual({ ok: false, problems });
    expect(JSON.stringify(result)).not.toMatch(/Jane|Doe|constructor/);
  });

  it.each([null, [], [designRecord], 42, 'Jane Doe', true])(
    'rejects the non-object %j with one type problem at the root',
    (value) => {
      // Prepare
      const validate = createPatientRecordValidator({ now: fixedClock });

      // Act
      const result = validate(value);

      // Assess
      expect(result).toEqual({ ok: false, problems: [problem('', 'type', 'must be object')] });
    },
  );

  it('reports each problem once, sorted by path', () => {
    // Prepare
    const validate = createPatientRecordValidator({ now: fixedClock });
    const record = {
      ssn: 'x',
      resourceType: 'Observation',
      mrn: 5,
      nickname: 'Janie',
      alias: 'JD',
      consent: { 'Jane Doe': 'a', 'John Doe': 'b' },
    };

    // Act
    const result = validate(record);

    // Assess
    expect(result).toEqual({
      ok: false,
      problems: [
        problem('', 'additionalProperties', 'unexpected property'),
        problem('/consent/*', 'type', 'must be boolean'),
        problem('/mrn', 'type', 'must be string'),
        problem('/resourceType', 'const', 'must equal Patient'),
        problem('/ssn', 'pattern', 'must match NNN-NN-NNNN'),
      ],
    });
  });

  it('rejects consent with more than 16 flags', () => {
    // Prepare
    const validate = createPatientRecordValidator({ now: fixedClock });
    const consent = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`flag${i}`, true]));

    // Act
    const result = validate({ ...designRecord, consent });

    // Assess
    expect(result).toEqual({
      ok: false,
      problems: [problem('/consent', 'maxProperties', 'must have at most 16 properties')],
    });
  });

  it.each([
    { now: '2025-06-15T10:00:00Z', birthDate: '2025-06-16', ok: true },
    { now: '2025-06-15T09:59:59Z', birthDate: '2025-06-16', ok: false },
    { now: '2025-06-15T12:00:00Z', birthDate: '2025-06-15', ok: true },
    { now: '2025-06-15T12:00:00Z', birthDate: '2025-06-17', ok: false },
    { now: '2025-12-31T10:00:00Z', birthDate: '2026-01-01', ok: true },
  ])('judges birthDate $birthDate at $now against UTC+14: ok=$ok', ({ now, birthDate, ok }) => {
    // Prepare
    const validate = createPatientRecordValidator({ now: () => new Date(now) });

    // Act
    const result = validate({ ...designRecord, birthDate });

    // Assess
    expect(result.ok).toBe(ok);
  });

  it('keeps each validator on its own clock', () => {
    // Prepare
    const early = createPatientRecordValidator({ now: () => new Date('2000-01-01T00:00:00Z') });
    const late = createPatientRecordValidator({ now: fixedClock });
    const record = { ...designRecord, birthDate: '2010-05-05' };

    // Act
    const results = [late(record).ok, early(record).ok, late(record).ok];

    // Assess
    expect(results).toEqual([true, false, true]);
  });

  it.each([
    { days: 0, ok: true },
    { days: 2, ok: false },
  ])('uses the system clock by default: UTC today + $days days ok=$ok', ({ days, ok }) => {
    // Prepare
    const validate = createPatientRecordValidator();

    // Act
    const result = validate({ ...designRecord, birthDate: utcDatePlusDays(days) });

    // Assess
    expect(result.ok).toBe(ok);
  });
});

describe('createPatientRecordValidator: text PostgreSQL cannot store', () => {
  const IN_VALUE = 'must not hold NUL (U+0000) or an unpaired surrogate';
  const IN_NAME = 'must not be named with NUL (U+0000) or an unpaired surrogate';

  it.each([
    ['NUL', '\u0000'],
    ['a lone surrogate', '\ud800'],
  ])('rejects %s, by path and never by value, wherever it is', (_, bad) => {
    // Prepare
    const validate = createPatientRecordValidator({ now: fixedClock });
    const cases: [unknown, SchemaProblem[]][] = [
      [{ ...designRecord, name: `Jane${bad}Doe` }, [problem('/name', 'characters', IN_VALUE)]],
      [
        { ...designRecord, mrn: `MRN${bad}001` },
        [
          problem('/mrn', 'characters', IN_VALUE),
          problem('/mrn', 'pattern', 'must be printable ASCII without leading or trailing spaces'),
        ],
      ],
      [
        { ...designRecord, birthDate: `1990-01-1${bad}` },
        [
          problem('/birthDate', 'characters', IN_VALUE),
          problem('/birthDate', 'format', BIRTH_DATE_MESSAGE),
        ],
      ],
      [
        { ...designRecord, consent: { data_sharing: true, [`Jane${bad}`]: true } },
        [problem('/consent/*', 'characters', IN_NAME)],
      ],
      [
        { ...designRecord, [`Jane${bad}`]: 'Doe' },
        [
          problem('', 'additionalProperties', 'unexpected property'),
          problem('/*', 'characters', IN_NAME),
        ],
      ],
    ];

    // Act
    const results = cases.map(([record]) => validate(record));

    // Assess
    expect(results).toEqual(cases.map(([, problems]) => ({ ok: false, problems })));
    for (const fragment of ['Jane', 'Doe', 'MRN', '1990']) {
      expect(JSON.stringify(results)).not.toContain(fragment);
    }
  });

  it('accepts a name with a surrogate pair and U+FFFD', () => {
    // Prepare
    const validate = createPatientRecordValidator({ now: fixedClock });
    const record = { ...designRecord, name: 'Jane \u{1F600} \uFFFD' };

    // Act
    const result = validate(record);

    // Assess
    expect(result).toEqual({ ok: true, value: record });
  });
});

describe('createFlatEnvelopeValidator', () => {
  it.each([
    { label: 'one record', body: { records: [designRecord] } },
    { label: 'the limit exactly', body: { records: [designRecord, designRecord, designRecord] } },
    { label: 'records it does not inspect', body: { records: [null, 'Jane Doe', { mrn: 1 }] } },
  ])('accepts $label', ({ body }) => {
    // Prepare
    const validate = createFlatEnvelopeValidator(3);

    // Act
    const result = validate(body);

    // Assess
    expect(result).toEqual({ ok: true, value: body });
  });

  it.each([
    {
      label: 'a missing records array',
      body: {},
      problems: [problem('', 'required', 'is required: records')],
    },
    {
      label: 'records that are not an array',
      body: { records: 'Jane Doe' },
      problems: [problem('/records', 'type', 'must be array')],
    },
    {
      label: 'an empty records array',
      body: { records: [] },
      problems: [problem('/records', 'minItems', 'must hold at least 1 item')],
    },
    {
      label: 'more records than the limit',
      body: { records: [designRecord, designRecord, designRecord, designRecord] },
      problems: [problem('/records', 'maxItems', 'must hold at most 3 items')],
    },
    {
      label: 'an extra top-level key',
      body: { records: [designRecord], 'Jane Doe': 'Jane Doe' },
      problems: [problem('', 'additionalProperties', 'unexpected property')],
    },
    {
      label: 'a body that is not an object',
      body: [designRecord],
      problems: [problem('', 'type', 'must be object')],
    },
  ])('rejects $label', ({ body, problems }) => {
    // Prepare
    const validate = createFlatEnvelopeValidator(3);

    // Act
    const result = validate(body);

    // Assess
    expect(result).toEqual({ ok: false, problems });
    expect(JSON.stringify(result)).not.toContain('Jane Doe');
  });

  it('compiles one validator per limit on the shared instance', () => {
    // Prepare
    const body = { records: [designRecord, designRecord] };

    // Act
    const one = createFlatEnvelopeValidator(1);
    const two = createFlatEnvelopeValidator(2);

    // Assess
    expect(one(body).ok).toBe(false);
    expect(two(body).ok).toBe(true);
    expect(createFlatEnvelopeValidator(2)).toBe(two);
  });
});
