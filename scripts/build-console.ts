/**
 * Bundles the console (console/main.ts, its libraries, the ASL it draws and its stylesheets) into
 * console/dist/console.js and console.css, which the console function serves. The bundle is
 * committed, like the generated FHIR files, so `npm start`, `npm test` and `osls package` read it
 * with no build step; a unit test fails when it differs from what this script writes.
 *
 * Run it with `npm run build:console`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const CONSOLE_DIST = new URL('../console/dist/', import.meta.url);
const ENTRY = fileURLToPath(new URL('../console/main.ts', import.meta.url));

/** The bundle's files by name (`console.js`, `console.css`), as text. */
export async function bundleConsole(): Promise<ReadonlyMap<string, string>> {
  const result = await build({
    entryPoints: { console: ENTRY },
    bundle: true,
    write: false,
    outdir: fileURLToPath(CONSOLE_DIST),
    format: 'iife',
    platform: 'browser',
    target: ['chrome120', 'firefox120', 'safari17'],
    minify: true,
    legalComments: 'eof',
    charset: 'utf8',
    logLevel: 'silent',
  });
  return new Map(
    result.outputFiles.map((file) => [file.path.slice(file.path.lastIndexOf('/') + 1), file.text]),
  );
}

if (import.meta.main) {
  const files = await bundleConsole();
  mkdirSync(CONSOLE_DIST, { recursive: true });
  for (const [name, text] of files) writeFileSync(new URL(name, CONSOLE_DIST), text);
  console.log(`console/dist: ${[...files.keys()].join(', ')}`);
}
