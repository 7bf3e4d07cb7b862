import { describe, expect, it } from 'vitest';
import type { ValidationProblem } from '../../../lib/errors.ts';
import { instantParameter } from '../../../lib/http/queryParameters.ts';

describe('instantParameter', () => {
  it.each([
    ['2026-02-28', '2026-02-28T00:00:00.000Z'],
    ['2028-02-29', '2028-02-29T00:00:00.000Z'],
    ['2026-12-31T23:59:59Z', '2026-12-31T23:59:59.000Z'],
    ['2026-03-01T10:00:00.250+02:00', '2026-03-01T08:00:00.250Z'],
    ['2026-03-01T10:00Z', '2026-03-01T10:00:00.000Z'],
  ])('reads %s as %s', (value, expected) => {
    // Prepare
    const problems: ValidationProblem[] = [];

    // Act
    const instant = instantParameter(value, 'from', problems);

    // Assess
    expect(instant?.toISOString()).toBe(expected);
    expect(problems).toEqual([]);
  });

  it.each([
    ['a day past the month’s end', '2026-02-31'],
    ['29 February of a common year', '2026-02-29'],
    ['day 0', '2026-04-00'],
    ['month 13', '2026-13-01'],
    ['hour 24', '2026-03-01T24:00:00Z'],
    ['minute 60', '2026-03-01T10:60:00Z'],
    ['second 60', '2026-03-01T10:00:60Z'],
    ['an offset of 24 hours', '2026-03-01T10:00:00+24:00'],
    ['a time without a zone', '2026-03-01T10:00:00'],
    ['a time without minutes', '2026-03-01T10Z'],
    ['a date that is not one', 'yesterday'],
  ])('refuses %s, naming the parameter without its value', (_, value) => {
    // Prepare
    const problems: ValidationProblem[] = [];

    // Act
    const instant = instantParameter(value, 'to', problems);

    // Assess
    expect(instant).toBeUndefined();
    expect(problems).toEqual([
      { path: '/to', keyword: 'format', message: 'must be an ISO 8601 date or date-time' },
    ]);
  });
});
