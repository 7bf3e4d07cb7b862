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
});
