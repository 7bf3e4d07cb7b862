import { describe, expect, it } from 'vitest';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import { type TestDatabase, useTestDatabase } from '../../helpers/database.ts';
import {
  bundle,
  consentFor,
  type FhirJson,
  MR_TYPE,
  ndjson,
  patientResource,
} from '../../helpers/fhir.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';

const NDJSON = 'application/fhir+ndjson';
const FHIR_JSON = 'application/fhir+json';

/** What PostgreSQL's text cannot hold, as JSON.parse hands it over from "\u0000" and "\ud800". */
const UNSTORABLE = [
  ['NUL', '\u0000'],
  ['a lone surrogate', '\ud800'],
] as const;

const FHIR_FORMATS = [
  [
    'a FHIR Bundle',
    FHIR_JSON,
    (resources: readonly FhirJson[]) =>
      bundle(
        'collection',
        resources.map((resource) => ({ resource })),
      ),
  ],
  ['NDJSON', NDJSON, ndjson],
] as const;

function observationFor(reference: string, code = '8867-4'): FhirJson {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference },
    effectiveDateTime: '2024-02-29T10:00:00Z',
    valueQuantity: { value: 72, unit: '/min' },
  };
}

/** Each rejection as [record index, reason, the paths of its problems with `keyword`]. */
async function rejectionsOf(
  database: TestDatabase,
  runId: string,
  keyword = 'characters',
): Promise<[number, string, string[]][]> {
  return (await listRejections(database.pool, runId)).map(({ recordIndex, reason, details }) => [
    recordIndex,
    reason,
    ((details['problems'] ?? []) as { path: string; keyword: string }[])
      .filter((problem) => problem.keyword === keyword)
      .map(({ path }) => path),
  ]);
}

async function createdBy(database: TestDatabase, table: string, runId: string): Promise<number> {
  const { rows } = await database.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${table} WHERE created_run_id = $1`,
    [runId],
  );
  return rows[0]?.n ?? 0;
}

describe('text PostgreSQL cannot store: that record is rejected, the rest of the batch loads', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  it('200 Consent, Patient and Observation triples and one Observation whose code holds NUL: the run succeeds and all 200 load', async () => {
    // Prepare
    const triples = Array.from({ length: 200 }, (_, n) => {
      const id = `triple-${n}`;
      return [
        consentFor(`Patient/${id}`),
        patientResource(id, `MRN-TRIPLE-${n}`, `Family${n}`),
        observationFor(`Patient/${id}`),
      ];
    }).flat();
    const body = ndjson([...triples, observationFor('Patient/triple-7', 'bad\u0000code')]);

    // Act
    const { runId, execution } = await pipeline.ingestBody(body, NDJSON);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(await findIngestRun(database.pool, runId)).toMatchObject({
      status: 'succeeded',
      counts: { created: 200, loaded: 200, 'Observation.created': 200, invalid: 1 },
    });
    expect(await createdBy(database, 'patients', runId)).toBe(200);
    expect(await createdBy(database, 'fhir_resources', runId)).toBe(200);
    expect(await rejectionsOf(database, runId)).toEqual([[600, 'schema', ['/code/coding/0/code']]]);
  });

  it.each(UNSTORABLE)(
    'flat records with %s in a name, an MRN, a birth date or a consent key are rejected by path; the others load',
    async (label, bad) => {
      // Prepare
      const prefix = `MRN-FLAT-${label === 'NUL' ? 'NUL' : 'SUR'}`;
      const records = [
        flatRecord({ mrn: `${prefix}-1` }),
        flatRecord({ mrn: `${prefix}-2`, name: `Jane${bad}Doe` }),
        flatRecord({ mrn: `${prefix}${bad}3` }),
        flatRecord({ mrn: `${prefix}-4`, birthDate: `1990-01-1${bad}` }),
        flatRecord({ mrn: `${prefix}-5`, consent: { data_sharing: true, [`x${bad}`]: true } }),
        flatRecord({ mrn: `${prefix}-6` }),
      ];

      // Act
      const { runId, execution } = await pipeline.ingest(records);

      // Assess
      expect(execution.status).toBe('SUCCEEDED');
      expect(await rejectionsOf(database, runId)).toEqual([
        [1, 'schema', ['/name']],
        [2, 'schema', ['/mrn']],
        [3, 'schema', ['/birthDate']],
        [4, 'schema', ['/consent/*']],
      ]);
      expect(await createdBy(database, 'patients', runId)).toBe(2);
    },
  );

  it.each(
    FHIR_FORMATS.flatMap(([format, contentType, encode]) =>
      UNSTORABLE.map(([label, bad]) => ({ format, contentType, encode, label, bad })),
    ),
  )(
    '$format with $label in a string, an identifier, a code, an extension, a key name and a date: each such resource is rejected by path; the others load',
    async ({ contentType, encode, label, bad }) => {
      // Prepare
      const tag = `${contentType === NDJSON ? 'nd' : 'bundle'}-${label === 'NUL' ? 'nul' : 'sur'}`;
      const ok = `${tag}-ok`;
      const rejected = `${tag}-bad-name`;
      const resources: FhirJson[] = [
        patientResource(ok, `MRN-${tag}-OK`, 'Storable'),
        consentFor(`Patient/${ok}`),
        observationFor(`Patient/${ok}`),
        patientResource(rejected, `MRN-${tag}-2`, `Do${bad}e`),
        {
          ...patientResource(`${tag}-bad-mrn`, 'x', 'Doe'),
          identifier: [{ type: MR_TYPE, system: 'urn:test:mrn', value: `MRN${bad}3` }],
        },
        { ...patientResource(`${tag}-bad-date`, `MRN-${tag}-4`, 'Doe'), birthDate: `1980${bad}` },
        {
          ...patientResource(`${tag}-bad-key`, `MRN-${tag}-5`, 'Doe'),
          extension: [{ url: 'http://example.org/x', [`value${bad}String`]: 'x' }],
        },
        observationFor(`Patient/${ok}`, `bad${bad}code`),
        {
          ...observationFor(`Patient/${ok}`),
          extension: [{ url: `http://example.org/${bad}`, valueString: 'x' }],
        },
        { ...observationFor(`Patient/${ok}`), effectiveDateTime: `2024-02-29T10:00:00${bad}Z` },
        observationFor(`Patient/${rejected}`),
        consentFor(`Patient/${rejected}`),
        { ...consentFor(`Patient/${ok}`), category: [{ text: `privacy${bad}` }] },
      ];

      // Act
      const { runId, execution } = await pipeline.ingestBody(encode(resources), contentType);

      // Assess
      expect(execution.status).toBe('SUCCEEDED');
      expect(await rejectionsOf(database, runId)).toEqual([
        [3, 'schema', ['/name/0/family']],
        [4, 'schema', ['/identifier/0/value']],
        [5, 'schema', ['/birthDate']],
        [6, 'schema', ['/extension/0/*']],
        [7, 'schema', ['/code/coding/0/code']],
        [8, 'schema', ['/extension/0/url']],
        [9, 'schema', ['/effectiveDateTime']],
        // The rejected patient's Observation has no patient; its Consent waits for the patient.
        [10, 'orphan-reference', []],
        [12, 'schema', ['/category/0/text']],
      ]);
      expect(await findIngestRun(database.pool, runId)).toMatchObject({
        counts: { created: 1, 'Observation.created': 1, consentsRecorded: 1, consentsPending: 1 },
      });
      expect(await createdBy(database, 'patients', runId)).toBe(1);
      expect(await createdBy(database, 'fhir_resources', runId)).toBe(1);
    },
  );

  it('a Consent dated past 9999 in UTC is rejected by path, so it cannot outrank every later decision', async () => {
    // Prepare
    const body = ndjson([
      patientResource('far-future', 'MRN-FAR-FUTURE', 'Later'),
      consentFor('Patient/far-future', { dateTime: '2026-01-01T00:00:00Z' }),
      consentFor('Patient/far-future', {
        provision: 'deny',
        dateTime: '9999-12-31T23:59:59-14:00',
      }),
    ]);

    // Act
    const { runId, execution } = await pipeline.ingestBody(body, NDJSON);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(await rejectionsOf(database, runId, 'instant')).toEqual([[2, 'schema', ['/dateTime']]]);
    expect(await createdBy(database, 'patients', runId)).toBe(1);
  });
});
