import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, isJsonObject } from '../../lib/json.ts';
import { SYNTHEA_FILES, syntheaResources } from '../helpers/fhir.ts';

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
