import { describe, expect, it } from 'vitest';
import { createProgressBar, progressLine } from '../../../cli/ingest/progressBar.ts';

const SNAPSHOT = {
  done: 60,
  total: 120,
  doneAtStart: 0,
  elapsedMs: 2000,
  activity: 'batch 3/4 running',
};

describe('progressLine', () => {
  it('shows the bar, records done of total, records per second and the time left', () => {
    // Act
    const line = progressLine(SNAPSHOT);

    // Assess
    expect(line).toBe(
      '[############------------] 60/120 records  30.0 rec/s  ETA 2s  batch 3/4 running',
    );
  });

  it.each<[string, Partial<typeof SNAPSHOT>, RegExp]>([
    [
      'nothing done yet: no rate, no ETA',
      { done: 0, elapsedMs: 0 },
      /^\[-{24}\] 0\/120 records {2}0\.0 rec\/s {2}ETA --/,
    ],
    [
      'records done before this run do not count towards the rate',
      { doneAtStart: 40 },
      /10\.0 rec\/s {2}ETA 6s/,
    ],
    ['a long ETA in minutes', { done: 1, total: 10_000, elapsedMs: 1000 }, /ETA 2h46m/],
    ['minutes and seconds', { done: 10, total: 100, elapsedMs: 10_000 }, /ETA 1m30s/],
    ['an empty input is complete', { done: 0, total: 0, elapsedMs: 10 }, /^\[#{24}\] 0\/0 records/],
  ])('%s', (_case, change, expected) => {
    // Act
    const line = progressLine({ ...SNAPSHOT, ...change });

    // Assess
    expect(line).toMatch(expected);
  });
});

describe('createProgressBar', () => {
  it('redraws one line in place and clears it when closed', () => {
    // Prepare
    const written: string[] = [];
    const bar = createProgressBar({ write: (text: string) => written.push(text) }, true);

    // Act
    bar.update(SNAPSHOT);
    bar.update({ ...SNAPSHOT, done: 120 });
    bar.close();

    // Assess
    expect(written).toHaveLength(3);
    expect(written[0]).toBe(`\r\x1b[2K${progressLine(SNAPSHOT)}`);
    expect(written[2]).toBe('\r\x1b[2K');
  });

  it('draws nothing when disabled (stderr is not a terminal, or --no-progress)', () => {
    // Prepare
    const written: string[] = [];
    const bar = createProgressBar({ write: (text: string) => written.push(text) }, false);

    // Act
    bar.update(SNAPSHOT);
    bar.close();

    // Assess
    expect(written).toStrictEqual([]);
  });
});
