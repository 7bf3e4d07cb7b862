import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../../cli/ingest/errors.ts';
import { directoryOrder, locateInput } from '../../../cli/ingest/inputFiles.ts';
import { EXPORT_10 } from '../../helpers/fhir.ts';

describe('directoryOrder', () => {
  it.each<[string, string[], string[]]>([
    [
      'Consent files first, then Patient files, then the others by name',
      ['Observation.ndjson', 'Consent.ndjson', 'Patient.ndjson', 'AllergyIntolerance.ndjson'],
      ['Consent.ndjson', 'Patient.ndjson', 'AllergyIntolerance.ndjson', 'Observation.ndjson'],
    ],
    [
      'numbered export files in order within their type',
      [
        'Observation.001.ndjson',
        'Patient.002.ndjson',
        'Observation.000.ndjson',
        'Patient.001.ndjson',
      ],
      [
        'Patient.001.ndjson',
        'Patient.002.ndjson',
        'Observation.000.ndjson',
        'Observation.001.ndjson',
      ],
    ],
    [
      'only *.ndjson and *.json files',
      ['README.md', 'bundle.json', 'notes.txt', 'Patient.ndjson.gz', 'a.ndjson'],
      ['a.ndjson', 'bundle.json'],
    ],
    [
      'names by code point, not by locale',
      ['b.ndjson', 'B.ndjson', 'a.ndjson', 'Z.json'],
      ['B.ndjson', 'Z.json', 'a.ndjson', 'b.ndjson'],
    ],
    [
      'types no patient owns after Patient, before the patient data',
      ['Encounter.ndjson', 'Organization.ndjson', 'Medication.ndjson', 'Patient.ndjson'],
      ['Patient.ndjson', 'Medication.ndjson', 'Organization.ndjson', 'Encounter.ndjson'],
    ],
    [
      'a file whose name merely starts with Patient among the others',
      ['PatientConsent.ndjson', 'Patient.ndjson', 'Encounter.ndjson'],
      ['Patient.ndjson', 'Encounter.ndjson', 'PatientConsent.ndjson'],
    ],
  ])('%s', (_case, names, expected) => {
    // Act
    const ordered = directoryOrder(names);

    // Assess
    expect(ordered).toStrictEqual(expected);
  });

  it("the Synthea export's files: Patient, then the shared types, then the patient data", () => {
    // Act
    const ordered = directoryOrder(readdirSync(EXPORT_10));

    // Assess
    expect(ordered).toStrictEqual([
      'Patient.000.ndjson',
      'Location.000.ndjson',
      'Organization.000.ndjson',
      'Practitioner.000.ndjson',
      'PractitionerRole.000.ndjson',
      'AllergyIntolerance.000.ndjson',
      'Condition.000.ndjson',
      'Device.000.ndjson',
      'DocumentReference.000.ndjson',
      'Encounter.000.ndjson',
      'Immunization.000.ndjson',
      'MedicationRequest.000.ndjson',
      'Procedure.000.ndjson',
    ]);
  });
});

describe('locateInput', () => {
  let directory: string;

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'ingest-files-'));
  });

  afterEach(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('a file is the whole input, named by its base name', () => {
    // Prepare
    const path = join(directory, 'Patient.ndjson');
    writeFileSync(path, '{}\n');

    // Act
    const location = locateInput(path, []);

    // Assess
    expect(location).toStrictEqual({
      resolvedPath: path,
      files: [{ name: 'Patient.ndjson', path }],
    });
  });

  it('a directory gives its loadable files in order, without subdirectories or excluded files', () => {
    // Prepare
    for (const name of ['Observation.ndjson', 'Patient.ndjson', 'run.outcomes.ndjson', 'x.txt']) {
      writeFileSync(join(directory, name), '{}\n');
    }
    mkdirSync(join(directory, 'nested.ndjson'));

    // Act
    const location = locateInput(directory, [join(directory, 'run.outcomes.ndjson')]);

    // Assess
    expect(location.resolvedPath).toBe(directory);
    expect(location.files.map((file) => file.name)).toStrictEqual([
      'Patient.ndjson',
      'Observation.ndjson',
    ]);
  });

  it.each<[string, (directory: string) => string, RegExp]>([
    ['a path that does not exist', (dir) => join(dir, 'missing.ndjson'), /no such file/],
    ['a directory without loadable files', (dir) => dir, /no \*\.ndjson or \*\.json files/],
  ])('refuses %s with an InputError', (_case, pathIn, message) => {
    // Act
    let error: unknown;
    try {
      locateInput(pathIn(directory), []);
    } catch (thrown) {
      error = thrown;
    }

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(message);
  });
});
