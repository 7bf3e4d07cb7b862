import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bundleConsole, CONSOLE_DIST } from '../../../scripts/build-console.ts';

describe('the committed console bundle', () => {
  it('is what npm run build:console writes from the sources, the ASL and the libraries', async () => {
    // Act
    const built = await bundleConsole();

    // Assess
    expect([...built.keys()].sort()).toEqual(['console.css', 'console.js']);
    for (const [name, text] of built) {
      expect(
        readFileSync(new URL(name, CONSOLE_DIST), 'utf8'),
        `${name}: run npm run build:console`,
      ).toBe(text);
    }
  }, 30_000);
});
