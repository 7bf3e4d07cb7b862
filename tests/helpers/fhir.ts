/**
 * FHIR R4 test data: the Synthea fixtures in ../shared/fixtures/synthea, and the Consent,
 * Patient and Bundle resources the tests build around them.
 */
import { readdirSync, readFileSync } from 'node:fs';

const FIXTURES = new URL('../../../shared/fixtures/synthea/', import.meta.url);

export type FhirJson = Record<string, unknown> & { readonly resourceType: string; id?: string };

export const SYNTHEA_FILES = [
  'Patient.10.ndjson',
  'Patient.100.ndjson',
  'Observation.sample.ndjson',
  'Immunization.10.ndjson',
  'AllergyIntolerance.10.ndjson',
] as const;
export type SyntheaFile = (typeof SYNTHEA_FILES)[number];

export interface SyntheaLine {
  readonly file: string;
  /** 1-based, as an outcome file reports it. */
  readonly line: number;
  readonly resource: Record<string, unknown>;
}

/** Every resource of a fixture file with its line number. */
export function syntheaLines(file: SyntheaFile): SyntheaLine[] {
  return syntheaText(file)
    .split('\n')
    .flatMap((text, index) =>
      text.trim() === '' ? [] : [{ file, line: index + 1, resource: JSON.parse(text) }],
    );
}

export function syntheaPath(file: SyntheaFile): string {
  return new URL(file, FIXTURES).pathname;
}

export function syntheaText(file: SyntheaFile): string {
  return readFileSync(new URL(file, FIXTURES), 'utf8');
}

export function syntheaResources(file: SyntheaFile): FhirJson[] {
  return syntheaLines(file).map(({ resource }) => resource as FhirJson);
}

/** The 10-patient Synthea Bulk Data export: one NDJSON file per resource type. */
export const EXPORT_10 = new URL('export-10/', FIXTURES);

/** Every resource of the export, file by file in name order. */
export function export10Resources(): FhirJson[] {
  return readdirSync(EXPORT_10)
    .filter((file) => file.endsWith('.ndjson'))
    .sort()
    .flatMap((file) =>
      readFileSync(new URL(file, EXPORT_10), 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as FhirJson),
    );
}

export function ndjson(resources: readonly unknown[]): string {
  return `${resources.map((resource) => JSON.stringify(resource)).join('\n')}\n`;
}

export const MR_TYPE = {
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }],
};

/** The Synthea patient's MRN, the value a reader would search by. */
export function mrnOf(patient: FhirJson): string {
  const identifiers = patient['identifier'] as { type?: typeof MR_TYPE; value: string }[];
  const mrn = identifiers.find((identifier) =>
    identifier.type?.coding.some((coding) => coding.code === 'MR'),
  );
  if (mrn === undefined) throw new Error('the fixture patient has no MRN');
  return mrn.value;
}

export function ssnOf(patient: FhirJson): string {
  const identifiers = patient['identifier'] as { system?: string; value: string }[];
  const ssn = identifiers.find(({ system }) => system === 'http://hl7.org/fhir/sid/us-ssn');
  if (ssn === undefined) throw new Error('the fixture patient has no SSN');
  return ssn.value;
}

/** Given and family names of every HumanName: what must never be stored in plaintext. */
export function namesOf(patient: FhirJson): string[] {
  const names = patient['name'] as { given?: string[]; family?: string }[];
  return names.flatMap(({ given, family }) => [...(given ?? []), ...(family ? [family] : [])]);
}

export interface ConsentOptions {
  readonly provision?: 'permit' | 'deny';
  readonly status?: string;
  readonly dateTime?: string;
  readonly id?: string;
  readonly research?: boolean;
}

/** An R4 privacy Consent about data sharing for the patient `reference` names. */
export function consentFor(reference: string, options: ConsentOptions = {}): FhirJson {
  return {
    resourceType: 'Consent',
    ...(options.id === undefined ? {} : { id: options.id }),
    status: options.status ?? 'active',
    scope: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' },
      ],
    },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference },
    dateTime: options.dateTime ?? '2026-01-01T00:00:00Z',
    provision: {
      type: options.provision ?? 'permit',
      ...(options.research === true
        ? {
            provision: [
              {
                type: 'permit',
                purpose: [
                  { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HRESCH' },
                ],
              },
            ],
          }
        : {}),
    },
  };
}

/** A minimal US Core-like Patient with an MRN. */
export function patientResource(id: string | undefined, mrn: string, family: string): FhirJson {
  return {
    resourceType: 'Patient',
    ...(id === undefined ? {} : { id }),
    identifier: [{ type: MR_TYPE, system: 'urn:test:mrn', value: mrn }],
    name: [{ use: 'official', family, given: ['Testa'] }],
    gender: 'female',
    birthDate: '1980-05-06',
  };
}

export function bundle(
  type: 'collection' | 'batch' | 'transaction',
  entries: readonly { fullUrl?: string; resource: unknown }[],
): string {
  return JSON.stringify({
    resourceType: 'Bundle',
    type,
    entry: entries.map((entry) =>
      type === 'collection'
        ? entry
        : {
            ...entry,
            request: {
              method: 'POST',
              url: (entry.resource as { resourceType?: string }).resourceType ?? 'Basic',
            },
          },
    ),
  });
}
