import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../cli/ingest/errors.ts';
import { bundleRecords, ndjsonRecords, readInputFile } from '../../../cli/ingest/inputRecords.ts';

const PATIENT = '{"resourceType":"Patient","id":"p1","name":[{"family":"Doe"}]}';
const CONSENT = '{"resourceType":"Consent","id":"c1"}';

describe('ndjsonRecords', () => {
  it('one record per non-blank line, with its line number, type and id, and the bytes of the line', () => {
    // Prepare
    const bytes = Buffer.from(`${PATIENT}\n\n${CONSENT}\r\n   \n[1]\nnot json\n`);

    // Act
    const records = ndjsonRecords('in.ndjson', bytes);

    // Assess
    expect(records.map(({ start, end, ...identity }) => identity)).toStrictEqual([
      { file: 'in.ndjson', line: 1, resourceType: 'Patient', resourceId: 'p1' },
      { file: 'in.ndjson', line: 3, resourceType: 'Consent', resourceId: 'c1' },
      { file: 'in.ndjson', line: 5, resourceType: null, resourceId: null },
      { file: 'in.ndjson', line: 6, resourceType: null, resourceId: null },
    ]);
    expect(records.map(({ start, end }) => bytes.toString('utf8', start, end))).toStrictEqual([
      PATIENT,
      CONSENT,
      '[1]',
      'not json',
    ]);
  });

  it.each<[string, string, number]>([
    ['a last line without a newline', `${PATIENT}\n${CONSENT}`, 2],
    ['a trailing newline, which is not a record', `${PATIENT}\n${CONSENT}\n`, 2],
    ['an empty file', '', 0],
    ['only blank lines', '\n \r\n\t\n', 0],
  ])('reads %s', (_case, text, count) => {
    // Act
    const records = ndjsonRecords('in.ndjson', Buffer.from(text));

    // Assess
    expect(records).toHaveLength(count);
  });

  it('leaves a UTF-8 byte order mark out of the first line', () => {
    // Prepare
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${PATIENT}\n`)]);

    // Act
    const [record] = ndjsonRecords('in.ndjson', bytes);

    // Assess
    expect(record).toMatchObject({ line: 1, resourceType: 'Patient', resourceId: 'p1' });
    expect(bytes.toString('utf8', record!.start, record!.end)).toBe(PATIENT);
  });
});

describe('bundleRecords', () => {
  it('one record per entry, numbered from 1, identified by the resource id or else the fullUrl', () => {
    // Prepare
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Patient', id: 'p1' } },
        { fullUrl: 'urn:uuid:2', resource: { resourceType: 'Observation' } },
        { resource: 'not a resource' },
        null,
      ],
    };

    // Act
    const records = bundleRecords('b.json', Buffer.from(JSON.stringify(bundle)));

    // Assess
    expect(records.map(({ entry, ...identity }) => identity)).toStrictEqual([
      { file: 'b.json', line: 1, resourceType: 'Patient', resourceId: 'p1' },
      { file: 'b.json', line: 2, resourceType: 'Observation', resourceId: 'urn:uuid:2' },
      { file: 'b.json', line: 3, resourceType: null, resourceId: null },
      { file: 'b.json', line: 4, resourceType: null, resourceId: null },
    ]);
    expect(records[0]?.entry).toStrictEqual(bundle.entry[0]);
  });

  it('a Bundle without entries has no records', () => {
    // Act
    const records = bundleRecords(
      'b.json',
      Buffer.from('{"resourceType":"Bundle","type":"batch"}'),
    );

    // Assess
    expect(records).toStrictEqual([]);
  });

  it.each<[string, string, RegExp]>([
    ['text that is not JSON', '{"resourceType":', /must be a FHIR Bundle/],
    ['a resource that is not a Bundle', '{"resourceType":"Patient"}', /must be a FHIR Bundle/],
    ['a searchset', '{"resourceType":"Bundle","type":"searchset"}', /type must be one of/],
    ['a Bundle without a type', '{"resourceType":"Bundle","entry":[]}', /type must be one of/],
    [
      'entries that are not an array',
      '{"resourceType":"Bundle","type":"collection","entry":{}}',
      /not an array/,
    ],
  ])('refuses %s with an InputError naming the file', (_case, text, message) => {
    // Act
    let error: unknown;
    try {
      bundleRecords('b.json', Buffer.from(text));
    } catch (thrown) {
      error = thrown;
    }

    // Assess
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(/^b\.json: /);
    expect((error as Error).message).toMatch(message);
  });
});

describe('readInputFile', () => {
  it.each<[string, string, string]>([
    ['a .json file as a Bundle', 'b.json', 'bundle'],
    ['a .ndjson file as NDJSON', 'p.ndjson', 'ndjson'],
    ['any other file as NDJSON', 'p.jsonl', 'ndjson'],
  ])('reads %s', (_case, name, format) => {
    // Prepare
    const directory = mkdtempSync(join(tmpdir(), 'ingest-read-'));
    const path = join(directory, name);
    writeFileSync(
      path,
      format === 'bundle'
        ? '\ufeff{"resourceType":"Bundle","type":"collection","entry":[]}'
        : PATIENT,
    );

    // Act
    const file = readInputFile({ name, path });

    // Assess
    expect(file.format).toBe(format);
    expect(file.name).toBe(name);
    // A Bundle is sent as its bytes: without the byte order mark JSON.parse refuses.
    if (file.format === 'bundle') expect(file.bytes.toString('utf8').startsWith('{')).toBe(true);
    rmSync(directory, { recursive: true, force: true });
  });
});
