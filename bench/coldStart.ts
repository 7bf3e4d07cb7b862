/**
 * `npm run bench:cold-start`: what a Lambda cold start of each stage function costs here.
 * Each sample is a fresh Node process, as a new Lambda instance is: the handler module is
 * imported (configuration, adapters, schemas); for Validate, what its first invocation adds
 * then: validateR4Resource of a first Synthea Patient and of a first Condition (each compiling
 * its type's validator on that first use), or, for a flat batch instead, the flat validator
 * compiled and a first flat record validated.
 * Measured twice: the esbuild bundle, built with serverless.yml's esbuild options (what
 * Lambda runs), and the TypeScript sources (what `npm start` runs).
 * Prints the median and the range of SAMPLES runs per function.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { parse } from 'yaml';

const SAMPLES = 7;
const STAGE_FUNCTIONS = ['extract', 'validate', 'consentCheck', 'transform', 'load', 'publish'];
const SYNTHEA = new URL('../../shared/fixtures/synthea/', import.meta.url);
const firstLine = (file: string): string =>
  readFileSync(new URL(file, SYNTHEA), 'utf8').split('\n')[0] ?? '{}';
const FIRST_PATIENT = firstLine('Patient.10.ndjson');
const FIRST_CONDITION = firstLine('export-10/Condition.000.ndjson');

// Runs in the child; the environment is what the handler's configuration needs to load. The
// module is a probe that re-exports the handler's module and the validators Validate uses.
const PROBE = `
const started = performance.now();
const probe = await import(process.argv[1]);
const imported = performance.now();
let patientMs = 0;
let conditionMs = 0;
let flatMs = 0;
if (process.argv[2] === 'validate') {
  const { validateR4Resource, createPatientRecordValidator } = probe;
  const timed = (validate) => {
    const before = performance.now();
    if (!validate().ok) throw new Error('the first validation failed');
    return performance.now() - before;
  };
  patientMs = timed(() => validateR4Resource(JSON.parse(process.argv[3])));
  conditionMs = timed(() => validateR4Resource(JSON.parse(process.argv[4])));
  flatMs = timed(() => createPatientRecordValidator()({ resourceType: 'Patient', mrn: 'MRN-1' }));
}
console.log(JSON.stringify({ importMs: imported - started, patientMs, conditionMs, flatMs, rssBytes: process.memoryUsage.rss() }));
`;

interface Sample {
  readonly importMs: number;
  /** validateR4Resource of a first Synthea Patient: its type's validator compiled, then used. */
  readonly patientMs: number;
  /** Then of a first Condition: one more type compiled, sharing the data types' code. */
  readonly conditionMs: number;
  /** The flat validator compiled and a first flat record validated: a flat batch's instead. */
  readonly flatMs: number;
  /** Resident memory once loaded: what the function holds before any batch. */
  readonly rssBytes: number;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The probe's source: the stage's handler module, and the validators Validate compiles on first use. */
function probeSource(stage: string): string {
  return [
    `export * as stage from ${JSON.stringify(join(ROOT, 'functions/stages', `${stage}.ts`))};`,
    `export { validateR4Resource } from ${JSON.stringify(join(ROOT, 'lib/fhir/r4/validation.ts'))};`,
    `export { createPatientRecordValidator } from ${JSON.stringify(join(ROOT, 'lib/fhir/validation.ts'))};`,
  ].join('\n');
}

interface EsbuildSettings {
  readonly platform: 'node';
  readonly target: string;
  readonly format: 'esm';
  readonly banner: { readonly js: string };
  readonly exclude: readonly string[];
  readonly minify: boolean;
}

/** Each stage's probe bundled as `osls package` bundles the function (serverless.yml's options). */
async function bundles(directory: string): Promise<Record<string, string>> {
  const settings =
    // CloudFormation's tags (!GetAtt, !Ref) are not this file's concern: read as plain values.
    (
      parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8'), { logLevel: 'error' }) as {
        custom: { esbuild: EsbuildSettings };
      }
    ).custom.esbuild;
  const built: Record<string, string> = {};
  for (const stage of STAGE_FUNCTIONS) {
    const entry = join(directory, `${stage}-entry.ts`);
    writeFileSync(entry, probeSource(stage));
    const outfile = join(directory, `${stage}.mjs`);
    await build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: settings.platform,
      target: settings.target,
      format: settings.format,
      minify: settings.minify,
      banner: settings.banner,
      external: [...settings.exclude],
      logLevel: 'error',
    });
    built[stage] = outfile;
  }
  return built;
}

/** Each stage's probe as TypeScript sources, loaded as `npm start` loads them. */
function sources(directory: string): Record<string, string> {
  return Object.fromEntries(
    STAGE_FUNCTIONS.map((stage) => {
      const file = join(directory, `${stage}.ts`);
      writeFileSync(file, probeSource(stage));
      return [stage, file];
    }),
  );
}

function sample(stage: string, file: string): Sample {
  const module = new URL(`file://${file}`).href;
  const output = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '--no-warnings',
      '-e',
      PROBE,
      module,
      stage,
      FIRST_PATIENT,
      FIRST_CONDITION,
    ],
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        DATABASE_URL: process.env['DATABASE_URL'] ?? 'postgres://bench@127.0.0.1:1/none',
        LOG_LEVEL: 'SILENT',
      },
    },
  );
  return JSON.parse(output) as Sample;
}

const median = (values: readonly number[]): number => {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};
const ms = (value: number): string => `${value.toFixed(0)} ms`.padStart(7);

const directory = mkdtempSync(join(tmpdir(), 'healthcare-etl-cold-start-'));
try {
  const variants = [
    ['esbuild bundle, as deployed to Lambda', await bundles(directory)],
    ['TypeScript sources, as npm start runs them', sources(directory)],
  ] as const;
  for (const [label, files] of variants) {
    console.log(`${label}: median of ${SAMPLES} fresh processes (min–max total)`);
    console.log(
      'function       import  Patient Condition    flat    total  rss loaded   (total: import, Patient and Condition, a FHIR batch)',
    );
    for (const stage of STAGE_FUNCTIONS) {
      const samples = Array.from({ length: SAMPLES }, () => sample(stage, files[stage] ?? ''));
      const totals = samples.map((s) => s.importMs + s.patientMs + s.conditionMs);
      const column = (of: (s: Sample) => number): string => ms(median(samples.map(of)));
      console.log(
        `${stage.padEnd(12)} ${column((s) => s.importMs)}  ${column((s) => s.patientMs)}   ${column((s) => s.conditionMs)}  ${column((s) => s.flatMs)}  ${ms(median(totals))}  ${(median(samples.map((s) => s.rssBytes)) / 1_048_576).toFixed(0).padStart(6)} MiB  (total ${Math.min(...totals).toFixed(0)}–${Math.max(...totals).toFixed(0)} ms)`,
      );
    }
    console.log('');
  }
  console.log(`node ${process.version}, ${process.arch}`);
} finally {
  rmSync(directory, { recursive: true, force: true });
}
