import { describe, expect, it } from 'vitest';
import { InputValidationError, PayloadTooLargeError } from '../../../lib/errors.ts';
import {
  FHIR_JSON_MEDIA_TYPE,
  JSON_MEDIA_TYPE,
  NDJSON_MEDIA_TYPE,
} from '../../../lib/mediaTypes.ts';
import { bundleEntries, classifyBatch, ndjsonLines } from '../../../lib/pipeline/envelopes.ts';

const PATIENT = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Zyqxv' }] };

function thrown(act: () => unknown): unknown {
  try {
    act();
  } catch (error) {
    return error;
  }
  return undefined;
}

function bundleOf(type: unknown, count: number): string {
  return JSON.stringify({
    resourceType: 'Bundle',
    type,
    entry: Array.from({ length: count }, (_, index) => ({
      fullUrl: `urn:uuid:${index}`,
      resource: PATIENT,
    })),
  });
}

describe('ndjsonLines', () => {
  it.each([
    ['a final newline', 'a\nb\n', ['a', 'b']],
    ['no final newline', 'a\nb', ['a', 'b']],
    ['CRLF line ends', 'a\r\nb\r\n', ['a', 'b']],
    ['a blank line inside', 'a\n\nb\n', ['a', '', 'b']],
    ['a single line', 'a', ['a']],
  ])('splits a body with %s', (_label, body, lines) => {
    // Act
    const split = ndjsonLines(body);

    // Assess
    expect(split).toEqual(lines);
  });
});

describe('classifyBatch', () => {
  it.each([
    [
      'the flat envelope',
      JSON.stringify({ records: [{ resourceType: 'Patient' }] }),
      JSON_MEDIA_TYPE,
      'flat',
      1,
    ],
    [
      'a collection Bundle as fhir+json',
      bundleOf('collection', 3),
      FHIR_JSON_MEDIA_TYPE,
      'fhir-bundle',
      3,
    ],
    [
      'a transaction Bundle as plain json',
      bundleOf('transaction', 2),
      JSON_MEDIA_TYPE,
      'fhir-bundle',
      2,
    ],
    ['a batch Bundle', bundleOf('batch', 1), FHIR_JSON_MEDIA_TYPE, 'fhir-bundle', 1],
    [
      'NDJSON with a final newline',
      `${JSON.stringify(PATIENT)}\n{}\n`,
      NDJSON_MEDIA_TYPE,
      'ndjson',
      2,
    ],
    ['NDJSON with a line that is not JSON', 'not json\n{}', NDJSON_MEDIA_TYPE, 'ndjson', 2],
  ])('accepts %s', (_label, body, contentType, format, recordCount) => {
    // Act
    const classified = classifyBatch(body, contentType, 10);

    // Assess
    expect(classified).toEqual({ format, recordCount });
  });

  it.each([
    ['a searchset Bundle', bundleOf('searchset', 1), FHIR_JSON_MEDIA_TYPE, '/type'],
    ['a Bundle without entries', bundleOf('collection', 0), FHIR_JSON_MEDIA_TYPE, '/entry'],
    ['a single resource', JSON.stringify(PATIENT), FHIR_JSON_MEDIA_TYPE, '/resourceType'],
    [
      'a flat envelope sent as fhir+json',
      JSON.stringify({ records: [PATIENT] }),
      FHIR_JSON_MEDIA_TYPE,
      '/resourceType',
    ],
    ['NDJSON of blank lines', '\n \n', NDJSON_MEDIA_TYPE, ''],
    ['JSON that does not parse', '{"resourceType": "Bundle"', FHIR_JSON_MEDIA_TYPE, ''],
  ])('refuses %s with a 400 naming %s and never the content', (_label, body, contentType, path) => {
    // Act
    const error = thrown(() => classifyBatch(body, contentType, 10));

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    const problems = (error as InputValidationError).problems;
    expect(problems.map((problem) => problem.path)).toContain(path);
    expect(JSON.stringify({ message: (error as Error).message, problems })).not.toContain('Zyqxv');
  });

  it.each([
    ['NDJSON', Array.from({ length: 4 }, () => '{}').join('\n'), NDJSON_MEDIA_TYPE],
    ['a Bundle', bundleOf('collection', 4), FHIR_JSON_MEDIA_TYPE],
    ['the flat envelope', JSON.stringify({ records: [1, 2, 3, 4] }), JSON_MEDIA_TYPE],
  ])('refuses %s of more records than the limit with a 413', (_label, body, contentType) => {
    // Act
    const error = thrown(() => classifyBatch(body, contentType, 3));

    // Assess
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect((error as PayloadTooLargeError).message).toBe('a batch holds at most 3 records');
  });
});

describe('bundleEntries', () => {
  it('lists each entry with its fullUrl; an entry that is not an object has no resource', () => {
    // Prepare
    const bundle = {
      resourceType: 'Bundle',
      entry: [{ fullUrl: 'urn:uuid:1', resource: PATIENT }, 'text', { resource: PATIENT }],
    };

    // Act
    const entries = bundleEntries(bundle);

    // Assess
    expect(entries).toEqual([
      { fullUrl: 'urn:uuid:1', resource: PATIENT },
      { resource: undefined },
      { resource: PATIENT },
    ]);
  });

  it('is undefined for anything but an object with an entry array', () => {
    // Assess
    expect(bundleEntries({ resourceType: 'Bundle' })).toBeUndefined();
    expect(bundleEntries([])).toBeUndefined();
  });
});
