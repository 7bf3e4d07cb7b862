import { describe, expect, it } from 'vitest';
import { rejectionDetailLines } from '../../../console/rejections.ts';

describe('rejectionDetailLines', () => {
  it('writes each schema problem as its path, keyword and message', () => {
    // Act
    const lines = rejectionDetailLines({
      problems: [
        { path: '/birthDate', keyword: 'format', message: 'must match format "date"' },
        { path: '', keyword: 'required', message: "must have required property 'mrn'" },
      ],
    });

    // Assess
    expect(lines).toEqual([
      '/birthDate: format (must match format "date")',
      "/: required (must have required property 'mrn')",
    ]);
  });

  it('writes other details as name and value', () => {
    // Act
    const lines = rejectionDetailLines({ firstRecordIndex: 0, field: 'mrn' });

    // Assess
    expect(lines).toEqual(['firstRecordIndex: 0', 'field: mrn']);
  });
});
