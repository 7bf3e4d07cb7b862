import { describe, expect, it } from 'vitest';
import { historyLimitsNote } from '../../../console/history.ts';

describe('historyLimitsNote', () => {
  it('says nothing when the history is whole', () => {
    // Act
    const note = historyLimitsNote({ olderAttemptsOmitted: 0, truncatedAttempts: [] });

    // Assess
    expect(note).toBeUndefined();
  });

  it.each([
    [{ olderAttemptsOmitted: 1, truncatedAttempts: [] }, 'The 1 oldest execution is not shown.'],
    [{ olderAttemptsOmitted: 5, truncatedAttempts: [] }, 'The 5 oldest executions are not shown.'],
    [
      { olderAttemptsOmitted: 0, truncatedAttempts: [0, 3] },
      'Only the first events of the first execution, re-drive 3 are listed.',
    ],
    [
      { olderAttemptsOmitted: 2, truncatedAttempts: [7] },
      'The 2 oldest executions are not shown; only the first events of re-drive 7 are listed.',
    ],
  ])('says what %j leaves out', (history, expected) => {
    // Act
    const note = historyLimitsNote(history);

    // Assess
    expect(note).toBe(expected);
  });
});
