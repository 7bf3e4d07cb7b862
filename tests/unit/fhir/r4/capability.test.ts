import { describe, expect, it } from 'vitest';
import { ROUTES, type Route } from '../../../../lib/api/routes.ts';
import { ConfigError } from '../../../../lib/errors.ts';
import { capabilityStatement } from '../../../../lib/fhir/r4/capability.ts';
import { descriptorOf, type ResourceDescriptor } from '../../../../lib/fhir/r4/descriptors.ts';
import type { FhirJson } from '../../../../lib/fhir/r4/resources.ts';
import { PATIENT_DATA_TYPES } from '../../../../lib/fhir/r4/search.ts';

const BASE = 'https://fhir.example.test/fhir/r4';

function fhirRoute(path: string): Route {
  return {
    method: 'GET',
    path,
    functionName: 'fhir',
    anyOf: ['user/Patient.r'],
    errors: 'operation-outcome',
  };
}

/** The generic FHIR routes: read and search of any type, $everything and metadata. */
const GENERIC_ROUTES: Readonly<Record<string, Route>> = {
  read: fhirRoute('/fhir/r4/{type}/{id}'),
  search: fhirRoute('/fhir/r4/{type}'),
  everything: fhirRoute('/fhir/r4/Patient/{id}/$everything'),
  metadata: { ...fhirRoute('/fhir/r4/metadata'), anyOf: 'public' },
  v1: { ...fhirRoute('/api/v1/patients/{id}'), errors: 'problem+json' },
};

interface ResourceEntry {
  readonly type: string;
  readonly interaction: readonly { readonly code: string }[];
  readonly searchParam?: readonly { readonly name: string; readonly type: string }[];
  readonly operation?: readonly { readonly name: string; readonly definition: string }[];
}

function entriesOf(statement: FhirJson): Map<string, ResourceEntry> {
  const [rest] = statement['rest'] as readonly { readonly resource: readonly ResourceEntry[] }[];
  return new Map((rest?.resource ?? []).map((entry) => [entry.type, entry]));
}

describe('capabilityStatement', () => {
  it('is an active R4 instance statement in JSON with SMART on FHIR security', () => {
    // Act
    const statement = capabilityStatement(BASE, GENERIC_ROUTES);

    // Assess
    expect(statement).toMatchObject({
      resourceType: 'CapabilityStatement',
      status: 'active',
      kind: 'instance',
      fhirVersion: '4.0.1',
      format: expect.arrayContaining(['json']),
      implementation: { url: BASE },
      rest: [
        {
          mode: 'server',
          security: {
            service: [
              {
                coding: [
                  {
                    system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
                    code: 'SMART-on-FHIR',
                  },
                ],
              },
            ],
          },
        },
      ],
    });
    expect(statement['date']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('reads every stored type through {type}/{id}, and no envelope, outcome or consent', () => {
    // Act
    const entries = entriesOf(capabilityStatement(BASE, GENERIC_ROUTES));

    // Assess
    for (const type of [
      'Patient',
      'Condition',
      'Encounter',
      'Observation',
      'Practitioner',
      'Organization',
      'Location',
    ]) {
      expect(entries.get(type)?.interaction).toContainEqual({ code: 'read' });
    }
    for (const type of ['Bundle', 'Binary', 'Parameters', 'OperationOutcome', 'Consent']) {
      expect(entries.has(type)).toBe(false);
    }
    expect(entries.size).toBe(141);
  });

  it('searches patient-data types only, with the parameters their descriptor answers', () => {
    // Act
    const entries = entriesOf(capabilityStatement(BASE, GENERIC_ROUTES));

    // Assess
    expect(entries.get('Observation')).toStrictEqual({
      type: 'Observation',
      interaction: [{ code: 'read' }, { code: 'search-type' }],
      searchParam: [
        { name: 'patient', type: 'reference' },
        { name: 'subject', type: 'reference' },
        { name: 'date', type: 'date' },
        { name: 'code', type: 'token' },
        { name: 'category', type: 'token' },
        { name: 'status', type: 'token' },
        { name: '_count', type: 'number' },
      ],
    });
    expect(entries.get('Encounter')?.searchParam?.map(({ name }) => name)).toEqual([
      'patient',
      'subject',
      'date',
      'status',
      '_count',
    ]);
    for (const type of PATIENT_DATA_TYPES) {
      const descriptor = descriptorOf(type) as ResourceDescriptor;
      expect(
        entries.get(type)?.searchParam?.map(({ name }) => name),
        type,
      ).toEqual([
        'patient',
        ...(descriptor.patientPaths.includes('subject') ? ['subject'] : []),
        ...(descriptor.datePaths.length > 0 ? ['date'] : []),
        ...(descriptor.codePaths.length > 0 ? ['code'] : []),
        ...(descriptor.categoryPaths.length > 0 ? ['category'] : []),
        ...(descriptor.statusPath === undefined ? [] : ['status']),
        '_count',
      ]);
    }
    for (const type of ['Patient', 'Practitioner', 'Organization']) {
      expect(entries.get(type)?.interaction).toStrictEqual([{ code: 'read' }]);
      expect(entries.get(type)?.searchParam).toBeUndefined();
    }
  });

  it('gives Patient the $everything operation, and no other type any', () => {
    // Act
    const entries = entriesOf(capabilityStatement(BASE, GENERIC_ROUTES));

    // Assess
    expect(entries.get('Patient')?.operation).toStrictEqual([
      {
        name: 'everything',
        definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything',
      },
    ]);
    const withOperations = [...entries.values()].filter((entry) => entry.operation !== undefined);
    expect(withOperations.map(({ type }) => type)).toEqual(['Patient']);
  });

  it('lists only what literal routes serve', () => {
    // Act
    const entries = entriesOf(
      capabilityStatement(BASE, {
        patient: fhirRoute('/fhir/r4/Patient/{id}'),
        observations: fhirRoute('/fhir/r4/Observation'),
      }),
    );

    // Assess
    expect([...entries.keys()]).toEqual(['Observation', 'Patient']);
    expect(entries.get('Observation')?.interaction).toStrictEqual([{ code: 'search-type' }]);
    expect(entries.get('Patient')?.interaction).toStrictEqual([{ code: 'read' }]);
  });

  it('follows the route table by default', () => {
    // Act
    const statement = capabilityStatement(BASE);

    // Assess
    expect(statement).toStrictEqual(capabilityStatement(BASE, ROUTES));
    expect(entriesOf(statement).get('Patient')?.interaction).toContainEqual({ code: 'read' });
  });

  it('refuses an operation it has no definition for', () => {
    // Act
    const act = () => capabilityStatement(BASE, { odd: fhirRoute('/fhir/r4/Patient/{id}/$odd') });

    // Assess
    expect(act).toThrow(ConfigError);
  });
});
