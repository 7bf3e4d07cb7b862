import { describe, expect, it } from 'vitest';
import { type CpuProfile, summariseProfile } from '../../../bench/profileSummary.ts';

const ROOT = '/repo';
const frame = (functionName: string, url = '', lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
});

/** root → main (lib/a.ts) → seal (lib/b.ts) → (anonymous) in node:zlib; and idle beside. */
const profile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5] },
    { id: 2, callFrame: frame('main', 'file:///repo/lib/a.ts', 9), children: [3] },
    { id: 3, callFrame: frame('seal', 'file:///repo/lib/b.ts', 19), children: [4] },
    { id: 4, callFrame: frame('', 'node:zlib', 415) },
    { id: 5, callFrame: frame('(idle)') },
  ],
  // Each delta is the time since the sample before: a sample lasts until the next one.
  samples: [3, 4, 4, 5, 2, 5],
  timeDeltas: [0, 2_000, 1_000, 1_000, 4_000, 2_000],
} satisfies CpuProfile;

describe('the CPU profile summary', () => {
  it('ranks functions by self time, named with their place in the repository, idle as a line of its own', () => {
    // Act
    const summary = summariseProfile(profile, 10, ROOT);

    // Assess
    expect(summary.totalMs).toBe(10);
    expect(summary.self).toEqual([
      { name: '(idle)', ms: 4, share: 0.4 },
      { name: 'seal lib/b.ts:20', ms: 2, share: 0.2 },
      { name: '(anonymous) node:zlib:416', ms: 2, share: 0.2 },
      { name: 'main lib/a.ts:10', ms: 2, share: 0.2 },
    ]);
  });

  it("counts a lib/ function's callees in its inclusive time, and keeps the top asked", () => {
    // Act
    const summary = summariseProfile(profile, 1, ROOT);

    // Assess
    expect(summary.inclusiveLib).toEqual([{ name: 'main lib/a.ts:10', ms: 6, share: 0.6 }]);
    expect(summary.self).toHaveLength(1);
  });
});
