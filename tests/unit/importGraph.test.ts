import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The product's code: what runs on Lambda, on `npm start`, in the CLI and the benchmarks. */
const SOURCE_DIRS = ['lib', 'functions', 'local', 'cli', 'bench', 'scripts', 'console'] as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** `import … from`, `import type … from`, `export … from` and bare `import '…'`. */
const STATIC_IMPORT = /^\s*(?:import|export)\s(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/gm;
/** `import('…')` of a literal path. */
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The specifiers a module imports (a cycle through types is a cycle of the design too). */
function importSpecifiers(text: string): string[] {
  return [...text.matchAll(STATIC_IMPORT), ...text.matchAll(DYNAMIC_IMPORT)].map(
    (match) => match[1] ?? '',
  );
}

/** Each module's relative imports, resolved to repository paths. */
function importGraph(): ReadonlyMap<string, readonly string[]> {
  const graph = new Map<string, string[]>();
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    graph.set(
      file,
      importSpecifiers(readFileSync(join(ROOT, file), 'utf8'))
        .filter((specifier) => specifier.startsWith('.'))
        .map((specifier) => normalize(join(dirname(file), specifier))),
    );
  }
  return graph;
}

/** Every cycle reachable by depth-first search, each as the path that closes it. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const found: string[] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (file: string): void => {
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      const open = path.indexOf(next);
      if (open >= 0) found.push([...path.slice(open), next].join(' -> '));
      else if (!done.has(next)) visit(next);
    }
    path.pop();
    done.add(file);
  };
  for (const file of graph.keys()) if (!done.has(file)) visit(file);
  return found;
}

describe('the import graph', () => {
  const graph = importGraph();

  it('reads every source directory', () => {
    // Assess: an empty graph would pass the checks below vacuously
    for (const dir of SOURCE_DIRS) {
      expect([...graph.keys()].some((file) => file.startsWith(`${dir}/`))).toBe(true);
    }
  });

  it('resolves every relative import to a file that exists', () => {
    // Act
    const missing = [...graph].flatMap(([file, imports]) =>
      imports
        .filter((target) => !existsSync(join(ROOT, target)))
        .map((target) => `${file} -> ${target}`),
    );

    // Assess
    expect(missing).toEqual([]);
  });

  it('has no cycle', () => {
    // Assess
    expect(cycles(graph)).toEqual([]);
  });

  it('keeps lib/ below everything: it imports nothing from functions/, local/, cli/, bench/, scripts/, console/ or tests/', () => {
    // Act
    const upward = [...graph]
      .filter(([file]) => file.startsWith('lib/'))
      .flatMap(([file, imports]) =>
        imports
          .filter((target) => !target.startsWith('lib/'))
          .map((target) => `${file} -> ${target}`),
      );

    // Assess
    expect(upward).toEqual([]);
  });
});

describe('the import scanner', () => {
  it('reads static, type-only, multi-line, re-exported, bare and dynamic imports', () => {
    // Prepare
    const text = [
      "import { a } from './a.ts';",
      "import type { B } from '../b.ts';",
      'import {',
      '  c,',
      '  d,',
      "} from './cd.ts';",
      "export { e } from './e.ts';",
      "export * from './f.ts';",
      "import './g.ts';",
      "const h = await import('./h.ts');",
      "import pg from 'pg';",
      "const text = 'imported from nowhere';",
    ].join('\n');

    // Act
    const specifiers = importSpecifiers(text);

    // Assess
    expect(specifiers).toEqual([
      './a.ts',
      '../b.ts',
      './cd.ts',
      './e.ts',
      './f.ts',
      './g.ts',
      'pg',
      './h.ts',
    ]);
  });
});

describe('the cycle finder', () => {
  it('finds a cycle through three modules, and none in a diamond', () => {
    // Prepare
    const cyclic = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
    ]);
    const diamond = new Map([
      ['a.ts', ['b.ts', 'c.ts']],
      ['b.ts', ['d.ts']],
      ['c.ts', ['d.ts']],
      ['d.ts', []],
    ]);

    // Assess
    expect(cycles(cyclic)).toEqual(['a.ts -> b.ts -> c.ts -> a.ts']);
    expect(cycles(diamond)).toEqual([]);
  });
});
