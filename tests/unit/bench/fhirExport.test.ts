import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  exportCopies,
  type FhirJson,
  loadOrder,
  ndjsonRuns,
  type ResourcesByType,
  readExport,
} from '../../../bench/fhirExport.ts';
import { consentFromFhir } from '../../../lib/fhir/r4/mapping.ts';
import type { FhirConsent } from '../../../lib/fhir/r4/model.ts';
import { validateR4Resource } from '../../../lib/fhir/r4/validation.ts';

const EXPORT = fileURLToPath(
  new URL('../../../../shared/fixtures/synthea/export-10/', import.meta.url),
);
const source = readExport(EXPORT);
const COPIES = 3;
const copies = [...exportCopies(source, { copies: COPIES })];
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

function* strings(node: unknown): Generator<string> {
  if (typeof node === 'string') yield node;
  else if (Array.isArray(node)) for (const item of node) yield* strings(item);
  else if (typeof node === 'object' && node !== null) {
    for (const value of Object.values(node)) yield* strings(value);
  }
}

/** Every object in `node` with its key, depth first. */
function* objects(node: unknown, key = ''): Generator<[string, FhirJson]> {
  if (Array.isArray(node)) for (const item of node) yield* objects(item, key);
  else if (typeof node === 'object' && node !== null) {
    yield [key, node as FhirJson];
    for (const [name, value] of Object.entries(node)) yield* objects(value, name);
  }
}

const resourcesOf = (byType: ResourcesByType): FhirJson[] => [...byType.values()].flat();

function identifiersOf(resource: FhirJson): { system?: unknown; value?: unknown }[] {
  const identifier = resource['identifier'];
  if (Array.isArray(identifier)) return identifier;
  return typeof identifier === 'object' && identifier !== null ? [identifier] : [];
}

/** The ids and identifier values of the original export. */
function originalTokens(): { ids: Set<string>; values: Set<string> } {
  const ids = new Set<string>();
  const values = new Set<string>();
  for (const resource of resourcesOf(source)) {
    ids.add(String(resource['id']));
    for (const { value } of identifiersOf(resource)) values.add(String(value));
  }
  return { ids, values };
}

describe('the FHIR benchmark export copies', () => {
  it('gives every copy the same resources on every call, and copy k the same whatever N', () => {
    // Act
    const again = [...exportCopies(source, { copies: COPIES })];
    const fewer = [...exportCopies(source, { copies: COPIES - 1 })];

    // Assess
    expect(again).toEqual(copies);
    expect(fewer).toEqual(copies.slice(0, COPIES - 1));
  }, 30_000);

  it('holds N times each type of the export, and a permitting Consent for 90% of the patients', () => {
    // Act
    const counts = new Map<string, number>();
    for (const copy of copies) {
      for (const [type, resources] of copy) {
        counts.set(type, (counts.get(type) ?? 0) + resources.length);
      }
    }

    // Assess
    for (const [type, resources] of source) {
      expect(counts.get(type), type).toBe(COPIES * resources.length);
    }
    const patients = source.get('Patient')?.length ?? 0;
    expect(counts.get('Consent')).toBe(COPIES * Math.round(0.9 * patients));
  });

  it.each([
    [0.5, 7],
    [0, 0],
    [1, 13],
  ])(
    'gives a permitting Consent to a share %s of the 13 patients of a copy',
    (permitShare, count) => {
      // Act
      const [copy] = [...exportCopies(source, { copies: 1, permitShare })];

      // Assess
      expect(source.get('Patient')).toHaveLength(13);
      expect(copy?.get('Consent')).toHaveLength(count);
    },
  );

  it('gives every copy ids, identifier values and names of its own', () => {
    // Act
    const idsOf = (copy: ResourcesByType) => resourcesOf(copy).map(({ id }) => String(id));
    const valuesOf = (copy: ResourcesByType) =>
      resourcesOf(copy).flatMap((resource) =>
        identifiersOf(resource).map(({ value }) => String(value)),
      );
    const namesOf = (copy: ResourcesByType) =>
      (copy.get('Patient') ?? []).map((patient) => JSON.stringify(patient['name']));

    // Assess
    const allIds = copies.flatMap(idsOf);
    expect(new Set(allIds).size).toBe(allIds.length);
    const valueSets = copies.map((copy) => new Set(valuesOf(copy)));
    for (let k = 1; k < COPIES; k += 1) {
      for (const value of valueSets[k] ?? []) expect(valueSets[0]?.has(value)).toBe(false);
    }
    const names = copies.flatMap(namesOf);
    expect(new Set(names).size).toBe(names.length);
  });

  it('leaves no id or identifier value of the original in any string of any copy', () => {
    // Prepare
    const { ids, values } = originalTokens();
    const others = [...values].filter((value) => !value.match(UUID));
    const escaped = others.map((value) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const other = new RegExp(escaped.join('|'));

    // Act
    const leaks: string[] = [];
    for (const copy of copies) {
      for (const text of strings(resourcesOf(copy))) {
        for (const uuid of text.match(UUID) ?? []) {
          if (ids.has(uuid) || values.has(uuid)) leaks.push(uuid);
        }
        const found = other.exec(text);
        if (found !== null) leaks.push(found[0]);
      }
    }

    // Assess
    expect(others.length).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
  });

  it('rewrites every reference to a resource or an identifier of the same copy', () => {
    for (const copy of copies) {
      // Prepare
      const literal = new Set<string>();
      const identified = new Set<string>();
      for (const resource of resourcesOf(copy)) {
        literal.add(`${resource['resourceType']}/${resource['id']}`);
        for (const { system, value } of identifiersOf(resource)) {
          identified.add(`${resource['resourceType']}?identifier=${system}|${value}`);
          identified.add(`?identifier=${system}|${value}`);
        }
      }

      // Act
      const unresolved: string[] = [];
      let resolved = 0;
      for (const [key, node] of objects(resourcesOf(copy))) {
        const reference = node['reference'];
        if (typeof reference === 'string') {
          if (literal.has(reference) || identified.has(reference)) resolved += 1;
          else unresolved.push(reference);
        }
        // A logical reference (PractitionerRole.practitioner, Location.managingOrganization).
        const identifier = node['identifier'];
        if (key !== '' && typeof identifier === 'object' && !Array.isArray(identifier)) {
          const { system, value } = identifier as FhirJson;
          if (identified.has(`?identifier=${system}|${value}`)) resolved += 1;
          else unresolved.push(`${system}|${value}`);
        }
      }

      // Assess
      expect(resolved).toBeGreaterThan(10_000);
      expect(unresolved).toEqual([]);
    }
  });

  it('generates Consents that pass the R4 schema and map to a data-sharing permit for a patient of their copy', () => {
    for (const copy of copies) {
      const patients = new Set((copy.get('Patient') ?? []).map(({ id }) => `Patient/${id}`));
      for (const consent of copy.get('Consent') ?? []) {
        // Act
        const valid = validateR4Resource(consent);
        const mapped = consentFromFhir(consent as unknown as FhirConsent);

        // Assess
        expect(valid.ok).toBe(true);
        expect(mapped).toMatchObject({ ok: true, value: { dataSharing: true, status: 'active' } });
        expect(patients.has(mapped.ok ? mapped.value.patientReference : '')).toBe(true);
      }
    }
  });

  it('loads Consents, Patients, the shared types, then the rest, each after the types it names', () => {
    // Act
    const order = loadOrder(source);

    // Assess
    expect(order.slice(0, 2)).toEqual(['Consent', 'Patient']);
    expect(new Set(order.slice(2, 6))).toEqual(
      new Set(['Practitioner', 'Organization', 'Location', 'PractitionerRole']),
    );
    const at = (type: string) => order.indexOf(type);
    expect(at('Organization')).toBeLessThan(at('Location'));
    expect(at('Location')).toBeLessThan(at('PractitionerRole'));
    expect(at('Encounter')).toBeLessThan(at('Condition'));
    expect(at('Condition')).toBeLessThan(at('MedicationRequest'));
    expect(at('Condition')).toBeLessThan(at('Procedure'));
    expect(new Set(order)).toEqual(new Set([...source.keys(), 'Consent']));
  });

  it.each([
    ['at most B records', ['a', 'b', 'c', 'd', 'e'], 2, 1_000, [2, 2, 1]],
    ['at most the byte limit', ['aaaa', 'bbbb', 'cccc'], 10, 10, [2, 1]],
    ['a line over the byte limit alone', ['a', 'x'.repeat(50), 'b'], 10, 10, [1, 1, 1]],
  ])('cuts NDJSON into runs of %s', (_, lines, maxRecords, maxBytes, sizes) => {
    // Act
    const runs = ndjsonRuns(lines, maxRecords, maxBytes);

    // Assess
    expect(runs.map(({ records }) => records)).toEqual(sizes);
    expect(runs.map(({ body }) => body).join('')).toBe(`${lines.join('\n')}\n`);
  });
});
