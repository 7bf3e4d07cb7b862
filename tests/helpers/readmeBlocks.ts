/**
 * The README's shell blocks as tests/e2e/quickstart.test.ts runs them: which are marked to
 * run, their code, and what they show themselves printing.
 */

/** A ```sh or ```bash block of the README, with what the comment before it says about it. */
export interface ShellBlock {
  /** Its fence's line number in README.md. */
  readonly line: number;
  /** `<!-- readme-test: run (…) -->` or `<!-- readme-test: skip (why) -->`; undefined: unmarked. */
  readonly marker: 'run' | 'skip' | undefined;
  readonly code: string;
  /** What it shows it printing: its `# → …` lines, where … stands for anything on the line. */
  readonly shows: readonly string[];
}

export function readmeShellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split('\n');
  const blocks: ShellBlock[] = [];
  for (let index = 0; index < lines.length; index += 1) {
    const fence = /^( *)```(?:sh|bash)$/.exec(lines[index] ?? '');
    if (fence === null) continue;
    const indent = fence[1]?.length ?? 0;
    const end = lines.findIndex((line, at) => at > index && line.trim() === '```');
    if (end === -1) throw new Error(`README.md line ${index + 1}: the shell block is never closed`);
    const code = lines.slice(index + 1, end).map((line) => line.slice(indent));
    const marker = /^ *<!-- readme-test: (run|skip) \(.+\) -->$/.exec(lines[index - 1] ?? '');
    blocks.push({
      line: index + 1,
      marker: marker === null ? undefined : (marker[1] as 'run' | 'skip'),
      code: code.join('\n'),
      shows: code.flatMap((line) => /^# → (.+)$/.exec(line)?.[1] ?? []),
    });
    index = end;
  }
  return blocks;
}

/** The `shows` lines that `output` does not contain, in order (… matches anything on a line). */
export function notShown(output: string, shows: readonly string[]): string[] {
  let from = 0;
  const missing: string[] = [];
  for (const shown of shows) {
    const pattern = new RegExp(
      shown
        .split('…')
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^\\n]*?'),
      'g',
    );
    pattern.lastIndex = from;
    const match = pattern.exec(output);
    if (match === null) missing.push(shown);
    else from = match.index + match[0].length;
  }
  return missing;
}
