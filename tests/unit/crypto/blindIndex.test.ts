import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  blindIndex,
  deterministicId,
  normalizeMrn,
  normalizeSsn,
} from '../../../lib/crypto/blindIndex.ts';

const indexKey = randomBytes(32);
const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('normalizeMrn', () => {
  it.each([
    ['surrounding spaces', '  MRN-001 \t', 'MRN-001'],
    ['a decomposed accent', 'Jose\u0301-7', 'Jos\u00e9-7'],
    ['letter case, which it keeps', 'mrn-001', 'mrn-001'],
  ])('handles %s', (_, value, expected) => {
    // Act
    const normalized = normalizeMrn(value);

    // Assess
    expect(normalized).toBe(expected);
  });
});

describe('normalizeSsn', () => {
  it.each([
    ['dashes', '123-45-6789'],
    ['spaces', ' 123 45 6789 '],
    ['digits only', '123456789'],
  ])('keeps only the digits of an SSN with %s', (_, value) => {
    // Act
    const normalized = normalizeSsn(value);

    // Assess
    expect(normalized).toBe('123456789');
  });
});

describe('blindIndex', () => {
  it('is a deterministic 32-byte HMAC', () => {
    // Act
    const first = blindIndex(indexKey, 'mrn', 'MRN-001');
    const second = blindIndex(indexKey, 'mrn', 'MRN-001');

    // Assess
    expect(first.length).toBe(32);
    expect(first.equals(second)).toBe(true);
  });

  it('differs under another index key', () => {
    // Act
    const first = blindIndex(indexKey, 'mrn', 'MRN-001');
    const second = blindIndex(randomBytes(32), 'mrn', 'MRN-001');

    // Assess
    expect(first.equals(second)).toBe(false);
  });

  it('keeps an MRN and an SSN with the same text apart', () => {
    // Act
    const asMrn = blindIndex(indexKey, 'mrn', '123456789');
    const asSsn = blindIndex(indexKey, 'ssn', '123456789');

    // Assess
    expect(asMrn.equals(asSsn)).toBe(false);
  });

  it.each([
    ['mrn', '  MRN-001 ', 'MRN-001'],
    ['ssn', '123-45-6789', '123456789'],
    ['ssn', '123 45 6789', '123-45-6789'],
  ] as const)('normalises the %s %j like %j', (kind, messy, clean) => {
    // Act
    const fromMessy = blindIndex(indexKey, kind, messy);
    const fromClean = blindIndex(indexKey, kind, clean);

    // Assess
    expect(fromMessy.equals(fromClean)).toBe(true);
  });

  it.each([
    ['mrn', 'MRN-001', 'MRN-002'],
    ['mrn', 'MRN-001', 'mrn-001'],
    ['ssn', '123-45-6789', '123-45-6780'],
  ] as const)('gives the %s %j and %j different indexes', (kind, first, second) => {
    // Act
    const firstIndex = blindIndex(indexKey, kind, first);
    const secondIndex = blindIndex(indexKey, kind, second);

    // Assess
    expect(firstIndex.equals(secondIndex)).toBe(false);
  });
});

describe('deterministicId', () => {
  it.each([
    ['a string', 'MRN-001'],
    ['a buffer', Buffer.from('MRN-001')],
  ])('is a version 8 UUID for %s', (_, value) => {
    // Act
    const id = deterministicId(indexKey, 'patient', value);

    // Assess
    expect(id).toMatch(UUID_V8);
  });

  it('is stable for the same key, purpose and value, whether string or buffer', () => {
    // Act
    const first = deterministicId(indexKey, 'patient', 'MRN-001');
    const second = deterministicId(indexKey, 'patient', 'MRN-001');
    const fromBuffer = deterministicId(indexKey, 'patient', Buffer.from('MRN-001'));

    // Assess
    expect(second).toBe(first);
    expect(fromBuffer).toBe(first);
  });

  it.each([
    ['purpose', () => deterministicId(indexKey, 'encounter', 'MRN-001')],
    ['value', () => deterministicId(indexKey, 'patient', 'MRN-002')],
    ['index key', () => deterministicId(randomBytes(32), 'patient', 'MRN-001')],
  ])('differs by %s', (_, other) => {
    // Prepare
    const base = deterministicId(indexKey, 'patient', 'MRN-001');

    // Act
    const id = other();

    // Assess
    expect(id).not.toBe(base);
  });
});
