import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryAudit } from '../../../lib/audit/auditQueries.ts';
import { InputValidationError } from '../../../lib/errors.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';
import { createTestPipeline, type TestPipeline } from '../../helpers/pipeline.ts';
import { thrownBy } from '../../helpers/thrown.ts';

describe('queryAudit: a cursor past the range of a seq', () => {
  let database: TestDatabase;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    database = await createTestDatabase();
    pipeline = createTestPipeline(database);
  });

  afterAll(async () => {
    await database.drop();
  });

  it.each([
    ['one past the largest bigint', '9223372036854775808'],
    ['19 nines', '9999999999999999999'],
  ])('refuses %s with InputValidationError on /cursor (a 400, not a 500)', async (_, cursor) => {
    // Act
    const error = await thrownBy(() => queryAudit(pipeline.deps, 'system:auditor', { cursor }));

    // Assess
    expect(error).toBeInstanceOf(InputValidationError);
    expect((error as InputValidationError).problems.map((problem) => problem.path)).toEqual([
      '/cursor',
    ]);
  });

  it('still accepts the largest bigint as a cursor: an empty last page', async () => {
    // Act
    const page = await queryAudit(pipeline.deps, 'system:auditor', {
      cursor: '9223372036854775807',
    });

    // Assess
    expect(page).toEqual({ data: [], nextCursor: null });
  });
});
