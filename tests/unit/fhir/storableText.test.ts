import { describe, expect, it } from 'vitest';
import { isStorableText, unstorableTexts } from '../../../lib/fhir/storableText.ts';

const IN_VALUE = 'must not hold NUL (U+0000) or an unpaired surrogate';
const IN_NAME = 'must not be named with NUL (U+0000) or an unpaired surrogate';

describe('isStorableText', () => {
  it.each([
    ['plain ASCII', 'MRN-001'],
    ['the empty string', ''],
    ['accents and CJK', 'Zoë 山田'],
    ['a surrogate pair (an emoji)', '\u{1F600}'],
    ['U+FFFD', '\uFFFD'],
    ['other C0 controls', '\u0001\t\n\u001f'],
  ])('accepts %s', (_, text) => {
    // Act
    const storable = isStorableText(text);

    // Assess
    expect(storable).toBe(true);
  });

  it.each([
    ['NUL alone', '\u0000'],
    ['NUL inside', 'bad\u0000code'],
    ['a lone high surrogate', '\ud800'],
    ['a lone low surrogate', 'x\udc00y'],
    ['a reversed pair', '\ude00\ud83d'],
  ])('refuses %s', (_, text) => {
    // Act
    const storable = isStorableText(text);

    // Assess
    expect(storable).toBe(false);
  });
});

describe('unstorableTexts', () => {
  it.each<[string, unknown, string[]]>([
    ['a string at the root', 'a\u0000', ['']],
    ['a member', { code: 'bad\u0000code' }, ['/code']],
    ['an array item', { given: ['Jane', '\ud800'] }, ['/given/1']],
    [
      'deep inside',
      { code: { coding: [{ code: 'x' }, { code: '\udfff' }] } },
      ['/code/coding/1/code'],
    ],
    [
      'several, in document order',
      { a: '\u0000', b: ['ok', '\ud800'], c: { d: '\u0000' } },
      ['/a', '/b/1', '/c/d'],
    ],
  ])('finds a bad string in %s by its JSON Pointer', (_, value, paths) => {
    // Act
    const found = unstorableTexts(value);

    // Assess
    expect(found).toStrictEqual(
      paths.map((instancePath) => ({ instancePath, keyword: 'characters', message: IN_VALUE })),
    );
  });

  it.each<[string, unknown, string]>([
    ['a NUL', { consent: { 'a\u0000b': true } }, '/consent/a\u0000b'],
    ['a lone surrogate', { extension: [{ '\ud800': 'x' }] }, '/extension/0/\ud800'],
    ['a name to escape as a pointer', { 'a/b~\u0000': 1 }, '/a~1b~0\u0000'],
  ])('finds a property name with %s at the property', (_, value, instancePath) => {
    // Act
    const found = unstorableTexts(value);

    // Assess
    expect(found).toStrictEqual([{ instancePath, keyword: 'characters', message: IN_NAME }]);
  });

  it('finds a bad value under a __proto__ key as JSON.parse makes it', () => {
    // Prepare
    const value: unknown = JSON.parse('{"a":{"__proto__":"\\u0000"}}');

    // Act
    const found = unstorableTexts(value);

    // Assess
    expect(found.map(({ instancePath }) => instancePath)).toStrictEqual(['/a/__proto__']);
  });

  it('reports a bad name and the bad value under it, each once', () => {
    // Act
    const found = unstorableTexts({ '\u0000': '\u0000' });

    // Assess
    expect(found.map(({ message }) => message)).toStrictEqual([IN_NAME, IN_VALUE]);
  });

  it.each<[string, unknown]>([
    ['a clean record', { resourceType: 'Patient', name: [{ family: 'Doe' }], active: true }],
    ['numbers, booleans and null', { a: 1, b: false, c: null, d: [0, null] }],
    ['nothing', undefined],
  ])('finds nothing in %s', (_, value) => {
    // Act
    const found = unstorableTexts(value);

    // Assess
    expect(found).toStrictEqual([]);
  });

  it('walks a record nested deeper than the call stack would allow', () => {
    // Prepare
    let value: unknown = '\u0000';
    for (let depth = 0; depth < 20_000; depth += 1) value = [value];

    // Act
    const found = unstorableTexts(value);

    // Assess
    expect(found).toHaveLength(1);
    expect(found[0]?.instancePath).toBe('/0'.repeat(20_000));
  });
});
