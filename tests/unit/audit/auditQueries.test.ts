import { describe, expect, it } from 'vitest';
import { parseAuditQuery } from '../../../lib/audit/auditQueries.ts';
import { InputValidationError } from '../../../lib/errors.ts';

describe('parseAuditQuery', () => {
  it.each(['from', 'to'])('refuses an impossible date as %s with a 400 problem', (name) => {
    // Act
    const parse = () => parseAuditQuery({ [name]: '2026-02-31' });

    // Assess
    expect(parse).toThrow(InputValidationError);
    expect(parse).toThrow(
      expect.objectContaining({
        statusCode: 400,
        problems: [
          { path: `/${name}`, keyword: 'format', message: 'must be an ISO 8601 date or date-time' },
        ],
      }),
    );
  });

  it.each([
    ['no order (asc)', {}, 'asc', undefined],
    ['order=asc with an asc cursor', { order: 'asc', cursor: 'asc.41' }, 'asc', '41'],
    ['order=desc with a desc cursor', { order: 'desc', cursor: 'desc.41' }, 'desc', '41'],
  ])('reads %s', (_, query, order, pastSeq) => {
    // Act
    const parsed = parseAuditQuery(query);

    // Assess
    expect(parsed.order).toBe(order);
    expect(parsed.filter.pastSeq).toBe(pastSeq);
  });

  it.each([
    ['an asc cursor with order=desc', { order: 'desc', cursor: 'asc.41' }],
    ['a desc cursor with no order', { cursor: 'desc.41' }],
  ])('refuses %s on /cursor', (_, query) => {
    // Act
    const parse = () => parseAuditQuery(query);

    // Assess
    expect(parse).toThrow(
      expect.objectContaining({
        statusCode: 400,
        problems: [
          {
            path: '/cursor',
            keyword: 'const',
            message: 'must be a cursor from a previous page in the same order',
          },
        ],
      }),
    );
  });
});
