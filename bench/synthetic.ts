/**
 * The benchmark's input: deterministic synthetic patients in the flat format and their
 * Observations as FHIR R4 NDJSON. Patient i is the same whatever the batch size or the order
 * of generation: every value comes from a generator seeded by (seed, i).
 */

export const SEED = 20_261_124;
/** Of the patients: schema-invalid about 5%, with data-sharing consent about 90% of the rest. */
const INVALID_SHARE = 0.05;
const CONSENT_SHARE = 0.9;

const GIVEN = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'John', 'Radia'];
const FAMILY = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Perlman'];
const GENDERS = ['female', 'male', 'other', 'unknown'] as const;
/** LOINC vital signs with a plausible range and unit each. */
const VITALS = [
  { code: '8867-4', display: 'Heart rate', unit: '/min', ucum: '/min', low: 50, high: 120 },
  { code: '8310-5', display: 'Body temperature', unit: 'Cel', ucum: 'Cel', low: 35, high: 40 },
  { code: '9279-1', display: 'Respiratory rate', unit: '/min', ucum: '/min', low: 10, high: 30 },
  { code: '29463-7', display: 'Body weight', unit: 'kg', ucum: 'kg', low: 3, high: 150 },
] as const;

/** mulberry32: small, fast and good enough to pick synthetic values. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function randomFor(seed: number, index: number, stream: number): () => number {
  return generator(Math.imul(seed ^ stream, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));
}

const pick = <T>(random: () => number, values: readonly T[]): T =>
  values[Math.floor(random() * values.length)] as T;

const digits = (random: () => number, count: number): string =>
  Array.from({ length: count }, () => Math.floor(random() * 10)).join('');

export function mrnOf(index: number): string {
  return `BENCH-${String(index).padStart(9, '0')}`;
}

export type PatientKind = 'consented' | 'refused' | 'invalid';

export interface SyntheticPatient {
  readonly kind: PatientKind;
  readonly record: Record<string, unknown>;
}

/** Patient `index` in the flat format: DESIGN.md's record, with its consent and validity drawn. */
export function syntheticPatient(index: number, seed = SEED): SyntheticPatient {
  const random = randomFor(seed, index, 1);
  const year = 1930 + Math.floor(random() * 90);
  const month = String(1 + Math.floor(random() * 12)).padStart(2, '0');
  const day = String(1 + Math.floor(random() * 28)).padStart(2, '0');
  const record: Record<string, unknown> = {
    resourceType: 'Patient',
    mrn: mrnOf(index),
    name: `${pick(random, GIVEN)} ${pick(random, FAMILY)}`,
    birthDate: `${year}-${month}-${day}`,
    gender: pick(random, GENDERS),
    ssn: `999-${digits(random, 2)}-${digits(random, 4)}`,
  };
  const draw = random();
  if (draw < INVALID_SHARE) {
    // One schema fault each, spread over the kinds a feed really sends.
    const fault = Math.floor(random() * 4);
    if (fault === 0) record['birthDate'] = `${year}-02-30`;
    else if (fault === 1) record['ssn'] = digits(random, 7);
    else if (fault === 2) record['gender'] = 'F';
    else record['nickname'] = 'unexpected';
    return { kind: 'invalid', record: { ...record, consent: { data_sharing: true } } };
  }
  const consented = draw < INVALID_SHARE + (1 - INVALID_SHARE) * CONSENT_SHARE;
  return {
    kind: consented ? 'consented' : 'refused',
    record: { ...record, consent: { data_sharing: consented, research: random() < 0.3 } },
  };
}

/** Observation `k` of patient `index`: a vital sign naming its patient by MR identifier. */
export function syntheticObservation(
  index: number,
  k: number,
  seed = SEED,
): Record<string, unknown> {
  const random = randomFor(seed, index * 64 + k, 2);
  const vital = pick(random, VITALS);
  const value = Math.round((vital.low + random() * (vital.high - vital.low)) * 10) / 10;
  const day = 1 + Math.floor(random() * 28);
  return {
    resourceType: 'Observation',
    id: `bench-${index}-${k}`,
    status: 'final',
    category: [
      {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/observation-category',
            code: 'vital-signs',
          },
        ],
      },
    ],
    code: { coding: [{ system: 'http://loinc.org', code: vital.code, display: vital.display }] },
    subject: {
      identifier: {
        type: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }],
        },
        value: mrnOf(index),
      },
    },
    effectiveDateTime: `2026-0${1 + (k % 9)}-${String(day).padStart(2, '0')}T08:30:00Z`,
    valueQuantity: {
      value,
      unit: vital.unit,
      system: 'http://unitsofmeasure.org',
      code: vital.ucum,
    },
  };
}

export interface RunBody {
  readonly kind: 'patients' | 'observations';
  readonly body: string;
  readonly contentType: string;
  readonly records: number;
}

/**
 * The runs of batch `batch`: its patients as one flat run, then their Observations as NDJSON
 * runs of at most `batchSize` each (after the patients, which they name).
 */
export function batchRuns(
  batch: number,
  options: { readonly patients: number; readonly batchSize: number; readonly observations: number },
): RunBody[] {
  const first = batch * options.batchSize;
  const last = Math.min(first + options.batchSize, options.patients);
  const records: Record<string, unknown>[] = [];
  for (let index = first; index < last; index += 1) records.push(syntheticPatient(index).record);
  const runs: RunBody[] = [
    {
      kind: 'patients',
      body: JSON.stringify({ records }),
      contentType: 'application/json',
      records: records.length,
    },
  ];
  let lines: string[] = [];
  const flush = () => {
    if (lines.length === 0) return;
    runs.push({
      kind: 'observations',
      body: `${lines.join('\n')}\n`,
      contentType: 'application/fhir+ndjson',
      records: lines.length,
    });
    lines = [];
  };
  for (let index = first; index < last; index += 1) {
    for (let k = 0; k < options.observations; k += 1) {
      lines.push(JSON.stringify(syntheticObservation(index, k)));
      if (lines.length === options.batchSize) flush();
    }
  }
  flush();
  return runs;
}
