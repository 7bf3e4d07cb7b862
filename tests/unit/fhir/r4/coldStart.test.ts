import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { export10Resources, syntheaLines } from '../../../helpers/fhir.ts';

const VALIDATION_MODULE = new URL('../../../../lib/fhir/r4/validation.ts', import.meta.url).href;

// Runs in a fresh Node process, as a Lambda cold start would: nothing imported or compiled yet.
const COLD_START = `
const started = performance.now();
const { validateR4Resource } = await import(process.argv[1]);
const imported = performance.now();
const patient = validateR4Resource(JSON.parse(process.argv[2]));
const patientValidated = performance.now();
const condition = validateR4Resource(JSON.parse(process.argv[3]));
const conditionValidated = performance.now();
console.log(JSON.stringify({
  ok: [patient.ok, condition.ok],
  importMs: imported - started,
  firstPatientMs: patientValidated - imported,
  firstConditionMs: conditionValidated - patientValidated,
}));
`;

interface ColdStart {
  readonly ok: readonly boolean[];
  readonly importMs: number;
  readonly firstPatientMs: number;
  readonly firstConditionMs: number;
}

describe('validateR4Resource cold start', () => {
  it('imports, then validates a first Synthea Patient and a first Condition, each compiling its type, in a fresh process', () => {
    // Prepare
    const [patient] = syntheaLines('Patient.10.ndjson');
    const condition = export10Resources().find(({ resourceType }) => resourceType === 'Condition');

    // Act
    const output = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '--no-warnings',
        '-e',
        COLD_START,
        VALIDATION_MODULE,
        JSON.stringify(patient?.resource),
        JSON.stringify(condition),
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const coldStart = JSON.parse(output) as ColdStart;

    // Assess: timings are printed by `npm run bench:cold-start`, never asserted.
    expect(coldStart.ok).toEqual([true, true]);
    expect(coldStart.firstPatientMs).toBeGreaterThan(0);
    expect(coldStart.firstConditionMs).toBeGreaterThan(0);
  }, 90_000);
});
