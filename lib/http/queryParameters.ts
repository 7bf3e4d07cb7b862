/**
 * Parsers of the query parameters the paged list routes share. Each adds a problem naming the
 * parameter, never echoing its value (a caller may have put PHI in it), and returns undefined.
 */
import type { ValidationProblem } from '../errors.ts';

export type QueryParameters = Readonly<Record<string, string | undefined>>;

/** A problem for each parameter not in `known`; its name is not repeated either. */
export function refuseUnknownParameters(
  query: QueryParameters,
  known: readonly string[],
  problems: ValidationProblem[],
): void {
  for (const name of Object.keys(query)) {
    if (!known.includes(name))
      problems.push({
        path: '',
        keyword: 'additionalProperties',
        message: 'unknown query parameter',
      });
  }
}

const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2})))?$/;

/** Whether each field is a possible one: `Date` rolls `02-31` over to 3 March instead. */
function fieldsPossible(fields: RegExpExecArray): boolean {
  const [, year, month, day, hour, minute, second, offsetHour, offsetMinute] = fields;
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  const atMost = (field: string | undefined, max: number) =>
    field === undefined || Number(field) <= max;
  return (
    date.getUTCFullYear() === Number(year) &&
    date.getUTCMonth() + 1 === Number(month) &&
    date.getUTCDate() === Number(day) &&
    atMost(hour, 23) &&
    atMost(minute, 59) &&
    atMost(second, 59) &&
    atMost(offsetHour, 23) &&
    atMost(offsetMinute, 59)
  );
}

/** An ISO 8601 date or date-time with a zone, every field a possible one. */
export function instantParameter(
  value: string | undefined,
  name: string,
  problems: ValidationProblem[],
): Date | undefined {
  if (value === undefined) return undefined;
  const fields = INSTANT.exec(value);
  const date = new Date(value);
  if (fields === null || !fieldsPossible(fields) || Number.isNaN(date.getTime())) {
    problems.push({
      path: `/${name}`,
      keyword: 'format',
      message: 'must be an ISO 8601 date or date-time',
    });
    return undefined;
  }
  return date;
}

/** A page size from 1 to `max`; `fallback` when absent. */
export function limitParameter(
  value: string | undefined,
  page: { readonly fallback: number; readonly max: number },
  problems: ValidationProblem[],
): number {
  const limit = value === undefined ? page.fallback : Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > page.max) {
    problems.push({
      path: '/limit',
      keyword: 'maximum',
      message: `must be a whole number from 1 to ${page.max}`,
    });
  }
  return limit;
}
