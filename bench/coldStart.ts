/**
 * `npm run bench:cold-start`: what a Lambda cold start of each stage function costs here.
 * Each sample is a fresh Node process, as a new Lambda instance is: the handler module is
 * imported (configuration, adapters, schemas), then the validators are compiled and a first
 * Synthea Patient and flat record validated, which is what Validate's first invocation adds.
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
const FIRST_PATIENT = readFileSync(
  new URL('../../shared/fixtures/synthea/Patient.10.ndjson', import.meta.url),
  'utf8',
).split('\n')[0];

// Runs in the child; the environment is what the handler's configuration needs to load. The
// module is a probe that re-exports the handler's module and the validator factories.
const PROBE = `
const started = performance.now();
const probe = await import(process.argv[1]);
const imported = performance.now();
let compiled = imported;
let validated = imported;
if (process.argv[2] === 'validate') {
  const { createFhirValidator, createPatientRecordValidator } = probe;
  const fhir = createFhirValidator();
  const flat = createPatientRecordValidator();
  compiled = performance.now();
  const ok = fhir(JSON.parse(process.argv[3])).ok && flat({ resourceType: 'Patient', mrn: 'MRN-1' }).ok;
  if (!ok) throw new Error('the first validation failed');
  validated = performance.now();
}
console.log(JSON.stringify({ importMs: imported - started, compileMs: compiled - imported, firstMs: validated - compiled, rssBytes: process.memoryUsage.rss() }));
`;

interface Sample {
  readonly importMs: number;
  readonly compileMs: number;
  readonly firstMs: number;
  /** Resident memory once loaded: what the function holds before any batch. */
  readonly rssBytes: number;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The probe's source: the stage's handler module, and the validators it compiles on first use. */
function probeSource(stage: string): string {
  return [
    `export * as stage from ${JSON.stringify(join(ROOT, 'functions/stages', `${stage}.ts`))};`,
    `export { createFhirValidator } from ${JSON.stringify(join(ROOT, 'lib/fhir/r4/validation.ts'))};`,
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
    ['--input-type=module', '--no-warnings', '-e', PROBE, module, stage, FIRST_PATIENT ?? '{}'],
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
    console.log('function       import  compile    first    total  rss loaded');
    for (const stage of STAGE_FUNCTIONS) {
      const samples = Array.from({ length: SAMPLES }, () => sample(stage, files[stage] ?? ''));
      const totals = samples.map((s) => s.importMs + s.compileMs + s.firstMs);
      console.log(
        `${stage.padEnd(12)} ${ms(median(samples.map((s) => s.importMs)))}  ${ms(median(samples.map((s) => s.compileMs)))}  ${ms(median(samples.map((s) => s.firstMs)))}  ${ms(median(totals))}  ${(median(samples.map((s) => s.rssBytes)) / 1_048_576).toFixed(0).padStart(6)} MiB  (total ${Math.min(...totals).toFixed(0)}–${Math.max(...totals).toFixed(0)} ms)`,
      );
    }
    console.log('');
  }
  console.log(`node ${process.version}, ${process.arch}`);
} finally {
  rmSync(directory, { recursive: true, force: true });
}
