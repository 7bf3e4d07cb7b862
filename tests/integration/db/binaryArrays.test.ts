import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  boolArray,
  byteaArray,
  int4Array,
  jsonbArray,
  textArray,
  timestamptzArray,
  uuidArray,
} from '../../../lib/db/binaryArrays.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { thrownBySync } from '../../helpers/thrown.ts';

const database = useTestDatabase();

/** What PostgreSQL reads from a parameter: each element as text, nulls as null, in order. */
async function received(type: string, parameter: unknown): Promise<(string | null)[]> {
  const { rows } = await database.pool.query<{ value: string | null }>(
    `SELECT value::text FROM unnest($1::${type}) WITH ORDINALITY AS a(value, n) ORDER BY n`,
    [parameter],
  );
  return rows.map((row) => row.value);
}

describe('binary array parameters', () => {
  it('PostgreSQL reads a bytea[] sent in the binary format as it reads the same array as text', async () => {
    const values = [randomBytes(300), null, Buffer.alloc(0), Buffer.from('a"b\\c{},', 'utf8')];
    expect(await received('bytea[]', byteaArray(values))).toEqual(
      await received('bytea[]', values),
    );
  });

  it('reads text[] alike, quotes, braces, backslashes and non-ASCII included', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.option(
            fc.string({ unit: 'grapheme' }).filter((text) => !text.includes('\u0000')),
            {
              nil: null,
            },
          ),
          { maxLength: 20 },
        ),
        async (values) => {
          expect(await received('text[]', textArray(values))).toEqual(
            await received('text[]', values),
          );
        },
      ),
      { numRuns: 60, seed: 19 },
    );
  });

  it('reads uuid[], boolean[] and timestamptz[] alike, dates before 2000 and to the millisecond', async () => {
    const ids = [randomUUID(), null, randomUUID().toUpperCase()];
    expect(await received('uuid[]', uuidArray(ids))).toEqual(await received('uuid[]', ids));
    const indexes = [0, -1, null, 2 ** 31 - 1, -(2 ** 31)];
    expect(await received('int[]', int4Array(indexes))).toEqual(await received('int[]', indexes));
    const flags = [true, false, null];
    expect(await received('boolean[]', boolArray(flags))).toEqual(
      await received('boolean[]', flags),
    );
    const dates = [
      new Date('1969-07-20T20:17:40.123Z'),
      null,
      new Date('2000-01-01T00:00:00.000Z'),
      new Date('2026-12-03T20:15:02.999Z'),
    ];
    expect(await received('timestamptz[]', timestamptzArray(dates))).toEqual(
      await received('timestamptz[]', dates),
    );
  });

  it('reads jsonb[] alike', async () => {
    const details = [
      JSON.stringify({ stage: 'load', patientId: randomUUID(), n: 1.5 }),
      null,
      JSON.stringify({ é: 'a"b\\c{}' }),
    ];
    expect(await received('jsonb[]', jsonbArray(details))).toEqual(
      await received('jsonb[]', details),
    );
  });

  it('sends an empty array as one', async () => {
    expect(await received('bytea[]', byteaArray([]))).toEqual([]);
    expect(await received('uuid[]', uuidArray([]))).toEqual([]);
  });

  it('refuses what is not a UUID, or not a date, before anything is sent', () => {
    for (const malformed of [
      'not-a-uuid',
      '0f4e2b9c-8c1e-4e3e-9a3c-1234567890a',
      '0f4e2b9c-8c1e-4e3e-9a3c-1234567890ag',
      '0f4e2b9c_8c1e-4e3e-9a3c-1234567890ab',
      // Cyrillic 'а' (U+0430): its low seven bits are an ASCII digit's
      '0f4e2b9c-8c1e-4e3e-9a3c-12345678\u04300ab',
    ]) {
      expect(thrownBySync(() => uuidArray([malformed]))).toBeInstanceOf(TypeError);
    }
    expect(thrownBySync(() => int4Array([1.5]))).toBeInstanceOf(TypeError);
    expect(thrownBySync(() => int4Array([2 ** 31]))).toBeInstanceOf(RangeError);
    expect(thrownBySync(() => timestamptzArray([new Date('not a date')]))).toBeInstanceOf(
      TypeError,
    );
  });
});
