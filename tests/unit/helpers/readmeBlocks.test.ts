import { describe, expect, it } from 'vitest';
import { notShown, readmeShellBlocks } from '../../helpers/readmeBlocks.ts';

const FENCE = '```';

describe('readmeShellBlocks', () => {
  it('takes each sh or bash block with its marker, its line, its code and what it shows', () => {
    // Prepare
    const markdown = [
      '# Title',
      '<!-- readme-test: run (the e2e test) -->',
      `${FENCE}sh`,
      'echo hello',
      '# → hello',
      FENCE,
      'Text.',
      '   <!-- readme-test: skip (needs AWS) -->',
      `   ${FENCE}bash`,
      '   aws s3 ls',
      `   ${FENCE}`,
      `${FENCE}json`,
      '{ "not": "shell" }',
      FENCE,
      `${FENCE}sh`,
      'unmarked',
      FENCE,
    ].join('\n');

    // Act
    const blocks = readmeShellBlocks(markdown);

    // Assess
    expect(blocks).toStrictEqual([
      { line: 3, marker: 'run', code: 'echo hello\n# → hello', shows: ['hello'] },
      { line: 9, marker: 'skip', code: 'aws s3 ls', shows: [] },
      { line: 15, marker: undefined, code: 'unmarked', shows: [] },
    ]);
  });

  it('names the line of a block that is never closed', () => {
    // Prepare
    const markdown = ['<!-- readme-test: run (x) -->', `${FENCE}sh`, 'echo hello', ''].join('\n');

    // Act
    const extracting = () => readmeShellBlocks(markdown);

    // Assess
    expect(extracting).toThrow('README.md line 2: the shell block is never closed');
  });
});

describe('notShown', () => {
  it.each([
    { output: 'a {"id":"x1"} b\nc', shows: ['{"id":"…"}', 'c'], missing: [] },
    { output: 'second\nfirst', shows: ['first', 'second'], missing: ['second'] },
    { output: 'a\nb', shows: ['a…b'], missing: ['a…b'] },
    { output: 'cost (1+1)', shows: ['(1+1)'], missing: [] },
  ])('$shows in "$output": missing $missing', ({ output, shows, missing }) => {
    // Act
    const result = notShown(output, shows);

    // Assess
    expect(result).toStrictEqual(missing);
  });
});
