import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InputValidationError } from '../../lib/errors.ts';
import { problemResponse } from '../../lib/http/problem.ts';
import { canonicalJson, isJsonObject, MAX_JSON_DEPTH, parseJson } from '../../lib/json.ts';
import { SYNTHEA_FILES, syntheaResources } from '../helpers/fhir.ts';
import { thrownBySync } from '../helpers/thrown.ts';

const BATCH = '{"records":[{"resourceType":"Patient","mrn":"MRN-001"}]}';

function nested(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/**
 * canonicalJson as first written. Stored record digests were taken over its output, so the
 * faster definition must agree with it on every input, or re-sent data would look changed.
 */
function originalCanonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(originalCanonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${originalCanonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

describe('canonicalJson', () => {
  it('sorts members by name at every depth and leaves out undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: 'x' }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"y":"x","z":null}]},"b":1}',
    );
  });

  it('gives the same text whatever order the members arrived in', () => {
    const one = JSON.parse('{"name":[{"given":["Ann"],"family":"Lee"}],"gender":"female"}');
    const other = JSON.parse('{"gender":"female","name":[{"family":"Lee","given":["Ann"]}]}');
    expect(canonicalJson(one)).toBe(canonicalJson(other));
  });

  it('orders names by UTF-16 code units and escapes them as JSON does', () => {
    const value = { é: 1, Z: 2, a: 3, '\u{1F600}': 4, '\uFFFF': 5, 'quo"te': 6, '': 7 };
    const text = canonicalJson(value);
    expect(text).toBe('{"":7,"Z":2,"a":3,"quo\\"te":6,"é":1,"\u{1F600}":4,"\uFFFF":5}');
    expect(JSON.parse(text)).toEqual(value);
  });

  it('writes scalars and holes as the original definition did', () => {
    for (const value of [
      null,
      true,
      0,
      -1.5e-7,
      'text',
      '',
      [],
      {},
      [undefined, 1],
      [null, [[]]],
    ]) {
      expect(canonicalJson(value)).toBe(originalCanonicalJson(value));
    }
  });

  it('agrees with the original definition on every Synthea resource', () => {
    const resources = SYNTHEA_FILES.flatMap((file) => syntheaResources(file));
    expect(resources.length).toBeGreaterThan(300);
    for (const resource of resources) {
      expect(canonicalJson(resource)).toBe(originalCanonicalJson(resource));
    }
  });

  // Pinned from the original definition's output.
  it('has not changed its output for the Synthea fixtures (digest pinned)', () => {
    const digest = createHash('sha256');
    for (const file of SYNTHEA_FILES) {
      for (const resource of syntheaResources(file)) digest.update(canonicalJson(resource));
    }
    expect(digest.digest('hex')).toBe(
      '6f9ff3046d98136129d38508fc94bc4a2febdb078b232bec789ca05045c87fae',
    );
  });
});

describe('isJsonObject', () => {
  it('accepts objects only', () => {
    expect(isJsonObject({})).toBe(true);
    expect(isJsonObject([])).toBe(false);
    expect(isJsonObject(null)).toBe(false);
    expect(isJsonObject('x')).toBe(false);
  });
});

describe('parseJson', () => {
  it('parses a well-formed document', () => {
    // Act
    const value = parseJson(BATCH);

    // Assess
    expect(value).toStrictEqual({ records: [{ resourceType: 'Patient', mrn: 'MRN-001' }] });
  });

  it.each([
    ['a truncated object', '{"name": "Jane Canary", "ssn": "123-45-6789"'],
    ['a bare word', 'Jane Canary 123-45-6789'],
    ['a trailing comma', '{"mrn": "MRN-CANARY", "name": "Jane Canary",}'],
    ['two values', '{"name": "Jane Canary"} {"ssn": "123-45-6789"}'],
    ['a single-quoted string', "{'name': 'Jane Canary'}"],
  ])('refuses %s without quoting any of it', (_, raw) => {
    // Act
    const error = thrownBySync(() => parseJson(raw));

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    const validation = error as InputValidationError;
    expect(validation.message).toBe('the body is not valid JSON');
    expect(validation.problems).toStrictEqual([
      { path: '', keyword: 'json', message: 'the body must be one well-formed JSON value' },
    ]);
    expect(validation.cause).toBeUndefined();
    const response = problemResponse(validation, 'corr-json-0001');
    for (const fragment of ['Jane', 'Canary', '123-45-6789', 'MRN-CANARY']) {
      expect(response.body).not.toContain(fragment);
      expect(JSON.stringify(validation.problems)).not.toContain(fragment);
    }
  });

  it(`accepts nesting of exactly ${MAX_JSON_DEPTH} levels`, () => {
    // Act
    const value = parseJson(nested(MAX_JSON_DEPTH));

    // Assess
    let depth = 0;
    let current: unknown = value;
    while (Array.isArray(current)) {
      depth += 1;
      current = current[0];
    }
    expect(depth).toBe(MAX_JSON_DEPTH);
  });

  it.each([
    ['arrays', nested(MAX_JSON_DEPTH + 1)],
    ['objects', `${'{"a":'.repeat(MAX_JSON_DEPTH + 1)}1${'}'.repeat(MAX_JSON_DEPTH + 1)}`],
    ['mixed', `${'[{"a":'.repeat(33)}1${'}]'.repeat(33)}`],
    ['an unclosed hostile prefix', '['.repeat(100_000)],
  ])(`refuses %s nested deeper than ${MAX_JSON_DEPTH} levels`, (_, raw) => {
    // Act
    const error = thrownBySync(() => parseJson(raw));

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as InputValidationError).problems[0]?.keyword).toBe('maxDepth');
  });

  it('does not count brackets inside strings', () => {
    // Prepare
    const brackets = '[{'.repeat(100);
    const raw = `{"a":"${brackets}","b":${nested(MAX_JSON_DEPTH - 1)}}`;

    // Act
    const value = parseJson(raw);

    // Assess
    expect(value).toMatchObject({ a: brackets });
  });

  it('does not end a string at an escaped quote', () => {
    // Prepare
    const raw = `["\\"${'['.repeat(100)}"]`;

    // Act
    const value = parseJson(raw);

    // Assess
    expect(value).toStrictEqual([`"${'['.repeat(100)}`]);
  });

  it('resumes counting after a string ending in an escaped backslash', () => {
    // Prepare: the outer array plus 64 levels is one too many.
    const raw = `["\\\\",${nested(MAX_JSON_DEPTH)}]`;

    // Act
    const error = thrownBySync(() => parseJson(raw));

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as InputValidationError).problems[0]?.keyword).toBe('maxDepth');
  });
});
