import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { syntheaLines } from '../../../helpers/fhir.ts';

const VALIDATION_MODULE = new URL('../../../../lib/fhir/r4/validation.ts', import.meta.url).href;

// Runs in a fresh Node process, as a Lambda cold start would: nothing imported or compiled yet.
const COLD_START = `
const started = performance.now();
const { createFhirValidator } = await import(process.argv[1]);
const imported = performance.now();
const validate = createFhirValidator();
const compiled = performance.now();
const result = validate(JSON.parse(process.argv[2]));
const validated = performance.now();
console.log(JSON.stringify({
  ok: result.ok,
  importMs: imported - started,
  compileMs: compiled - imported,
  firstValidationMs: validated - compiled,
}));
`;

interface ColdStart {
  readonly ok: boolean;
  readonly importMs: number;
  readonly compileMs: number;
  readonly firstValidationMs: number;
}

describe('FHIR R4 validator cold start', () => {
  it('imports, compiles and validates a first Synthea patient in a fresh process', () => {
    // Prepare
    const [first] = syntheaLines('Patient.10.ndjson');

    // Act
    const output = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '--no-warnings',
        '-e',
        COLD_START,
        VALIDATION_MODULE,
        JSON.stringify(first?.resource),
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const coldStart = JSON.parse(output) as ColdStart;

    // Assess: timings are printed by `npm run bench:cold-start`, never asserted.
    expect(coldStart.compileMs).toBeGreaterThan(0);
    expect(coldStart.ok).toBe(true);
  }, 90_000);
});
