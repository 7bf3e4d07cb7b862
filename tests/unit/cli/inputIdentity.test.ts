import { describe, expect, it } from 'vitest';
import { contentHash, idempotencyKey, stateKey } from '../../../cli/ingest/inputIdentity.ts';

const FILES = [
  { name: 'Patient.ndjson', bytes: Buffer.from('{"resourceType":"Patient"}\n') },
  { name: 'Observation.ndjson', bytes: Buffer.from('{"resourceType":"Observation"}\n') },
];

describe('contentHash', () => {
  it('is the same for the same files', () => {
    // Act
    const first = contentHash(FILES);
    const second = contentHash(FILES.map((file) => ({ ...file, bytes: Buffer.from(file.bytes) })));

    // Assess
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(second).toBe(first);
  });

  it.each<[string, typeof FILES]>([
    [
      'a changed byte',
      [{ ...FILES[0]!, bytes: Buffer.from('{"resourceType":"Patiant"}\n') }, FILES[1]!],
    ],
    ['another file order', [FILES[1]!, FILES[0]!]],
    ['a renamed file', [{ ...FILES[0]!, name: 'Patient.001.ndjson' }, FILES[1]!]],
    [
      'bytes moved from one file to the next',
      [
        { name: 'Patient.ndjson', bytes: Buffer.from('{"resourceType":"Patient"}') },
        { name: 'Observation.ndjson', bytes: Buffer.from('\n{"resourceType":"Observation"}\n') },
      ],
    ],
  ])('changes with %s', (_case, files) => {
    // Act
    const changed = contentHash(files);

    // Assess
    expect(changed).not.toBe(contentHash(FILES));
  });
});

describe('stateKey', () => {
  it('depends on both the path and the content', () => {
    // Act
    const key = stateKey('/data/Patient.ndjson', 'a'.repeat(64));

    // Assess
    expect(key).toMatch(/^[0-9a-f]{16}$/);
    expect(stateKey('/data/Patient.ndjson', 'a'.repeat(64))).toBe(key);
    expect(stateKey('/other/Patient.ndjson', 'a'.repeat(64))).not.toBe(key);
    expect(stateKey('/data/Patient.ndjson', 'b'.repeat(64))).not.toBe(key);
  });
});

describe('idempotencyKey', () => {
  const base = { contentHash: 'c'.repeat(64), batchSize: 48, batchIndex: 2, attempt: 0 };

  it('is what the API accepts: 1 to 255 visible ASCII characters, the same for the same batch', () => {
    // Act
    const key = idempotencyKey(base);

    // Assess
    expect(key).toMatch(/^[\x21-\x7e]{1,255}$/);
    expect(idempotencyKey({ ...base })).toBe(key);
  });

  it.each([
    ['another content', { contentHash: 'd'.repeat(64) }],
    ['another batch size', { batchSize: 30 }],
    ['another batch', { batchIndex: 3 }],
    ['a retry after a failed run', { attempt: 1 }],
  ])('differs for %s', (_case, change) => {
    // Act
    const key = idempotencyKey({ ...base, ...change });

    // Assess
    expect(key).not.toBe(idempotencyKey(base));
  });
});
