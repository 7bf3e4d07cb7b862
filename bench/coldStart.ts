/**
 * `npm run bench:cold-start`: what a Lambda cold start of each stage function costs here.
 * Each sample is a fresh Node process, as a new Lambda instance is: the handler module is
 * imported (configuration, adapters, schemas), then the validators are compiled and a first
 * Synthea Patient and flat record validated, which is what Validate's first invocation adds.
 * Prints the median and the range of SAMPLES runs per function.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const SAMPLES = 7;
const STAGE_FUNCTIONS = ['extract', 'validate', 'consentCheck', 'transform', 'load', 'publish'];
const FIRST_PATIENT = readFileSync(
  new URL('../../shared/fixtures/synthea/Patient.10.ndjson', import.meta.url),
  'utf8',
).split('\n')[0];

// Runs in the child; the environment is what the handler's configuration needs to load.
const PROBE = `
const started = performance.now();
await import(process.argv[1]);
const imported = performance.now();
let compiled = imported;
let validated = imported;
if (process.argv[2] === 'validate') {
  const { createFhirValidator } = await import(new URL('../../lib/fhir/r4/validation.ts', process.argv[1]).href);
  const { createPatientRecordValidator } = await import(new URL('../../lib/fhir/validation.ts', process.argv[1]).href);
  const fhir = createFhirValidator();
  const flat = createPatientRecordValidator();
  compiled = performance.now();
  const ok = fhir(JSON.parse(process.argv[3])).ok && flat({ resourceType: 'Patient', mrn: 'MRN-1' }).ok;
  if (!ok) throw new Error('the first validation failed');
  validated = performance.now();
}
console.log(JSON.stringify({ importMs: imported - started, compileMs: compiled - imported, firstMs: validated - compiled }));
`;

interface Sample {
  readonly importMs: number;
  readonly compileMs: number;
  readonly firstMs: number;
}

function sample(stage: string): Sample {
  const module = new URL(`../functions/stages/${stage}.ts`, import.meta.url).href;
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

console.log(`cold start per stage function, median of ${SAMPLES} fresh processes (min–max total)`);
console.log('function       import  compile    first    total');
for (const stage of STAGE_FUNCTIONS) {
  const samples = Array.from({ length: SAMPLES }, () => sample(stage));
  const totals = samples.map((s) => s.importMs + s.compileMs + s.firstMs);
  console.log(
    `${stage.padEnd(12)} ${ms(median(samples.map((s) => s.importMs)))}  ${ms(median(samples.map((s) => s.compileMs)))}  ${ms(median(samples.map((s) => s.firstMs)))}  ${ms(median(totals))}  (${Math.min(...totals).toFixed(0)}–${Math.max(...totals).toFixed(0)})`,
  );
}
console.log(`node ${process.version}, ${process.arch}`);
