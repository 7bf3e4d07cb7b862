import { randomBytes, randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiHandler } from '../../../lib/api/apiHandler.ts';
import { takeRequest, tenantBucket } from '../../../lib/api/rateLimit.ts';
import type { AuthenticatedEvent } from '../../../lib/auth/middleware.ts';
import { blindIndex } from '../../../lib/crypto/blindIndex.ts';
import { encryptField } from '../../../lib/crypto/fieldCipher.ts';
import { upsertConsents } from '../../../lib/db/repositories/consents.ts';
import {
  type FhirResourceRow,
  upsertFhirResources,
} from '../../../lib/db/repositories/fhirResources.ts';
import { insertIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { upsertPatientReferences } from '../../../lib/db/repositories/patientReferences.ts';
import { type PatientRow, upsertPatients } from '../../../lib/db/repositories/patients.ts';
import { referenceKey } from '../../../lib/fhir/r4/mapping.ts';
import type { PipelineDependencies } from '../../../lib/pipeline/dependencies.ts';
import { referenceIndex } from '../../../lib/pipeline/resourceIdentity.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { useDeployedEnvironment } from '../../helpers/deployedEnvironment.ts';
import { syntheaLines } from '../../helpers/fhir.ts';
import {
  bearerToken,
  gatewayGetEvent,
  lambdaContextOf,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
} from '../../helpers/gatewayEvents.ts';

type Json = Record<string, unknown>;

interface AuditRecord {
  action: string;
  resource_type: string;
  resource_id: string | null;
  outcome: string;
  details: Json;
}

interface Seeded {
  readonly id: string;
  /** Our observation id by the sender's. */
  readonly observations: ReadonlyMap<string, string>;
}

interface PatientSpec {
  readonly mrn: string;
  /** What source_enc holds. */
  readonly source: Json;
  readonly name?: string;
  readonly birthDate?: string;
  readonly ssn?: string;
  readonly gender?: string;
  /** data_sharing of the consents row; null for no row at all. */
  readonly consent: boolean | null;
  readonly observations?: readonly Json[];
}

const HOST = 'fhir.example.test';
const BASE = `https://${HOST}/fhir/r4`;
const JWT_SECRET = randomBytes(32);
const RATE = { perMinute: 600, burst: 20 };
const PATIENT_SCOPE = 'user/Patient.r';
const OBSERVATION_SCOPE = 'user/Observation.rs';

const lambdaContext = lambdaContextOf('fhir');

const patientFixtures = syntheaLines('Patient.10.ndjson').map((line) => line.resource);
const observationFixtures = syntheaLines('Observation.sample.ndjson').map((line) => line.resource);

/** The Observation values a refusal must never show (numbers, units, an address). */
const OBSERVATION_VALUES = ['4.39', 'mg/g', 'mm[Hg]', 'Bradtke', '10828004'];

function token(subject: string, scopes: readonly string[]): Promise<string> {
  return bearerToken(JWT_SECRET, subject, scopes);
}

function getEvent(
  path: string,
  options: {
    readonly bearer?: string;
    readonly pathParameters?: Record<string, string>;
    readonly query?: Record<string, string>;
  },
): AuthenticatedEvent {
  return gatewayGetEvent(path, { host: HOST, ...options });
}

function bodyOf(response: APIGatewayProxyStructuredResultV2): Json {
  return JSON.parse(response.body ?? '') as Json;
}

function issuesOf(response: APIGatewayProxyStructuredResultV2): Json[] {
  const body = bodyOf(response);
  expect(body['resourceType']).toBe('OperationOutcome');
  return body['issue'] as Json[];
}

describe('FHIR R4 API: the handlers against PostgreSQL, with real keys and consent', () => {
  const database = useTestDatabase();
  useDeployedEnvironment(database, {
    AUTH_JWT_SECRET: JWT_SECRET.toString('base64'),
    AUTH_ISSUER: TOKEN_ISSUER,
    AUTH_AUDIENCE: TOKEN_AUDIENCE,
    AUTH_JWKS_URL: undefined,
    RATE_LIMIT_PER_MINUTE: String(RATE.perMinute),
    RATE_LIMIT_BURST: String(RATE.burst),
  });
  let deps: PipelineDependencies;
  let readPatient: ApiHandler;
  let searchObservations: ApiHandler;
  let getPatientV1: ApiHandler;

  /**
   * Stores a patient and its observations the way the pipeline does: real keys, real AAD, a run
   * of a sender of its own, and the sender's references to the patient (the observations'
   * subjects) kept under that sender's namespace.
   */
  async function seed(spec: PatientSpec): Promise<Seeded> {
    const { pool, keyring } = deps;
    const runId = randomUUID();
    const { id: dataKeyId, key } = await keyring.createRunKey(pool, runId);
    const sender = `system:seed-${runId}`;
    await insertIngestRun(pool, {
      id: runId,
      format: 'ndjson',
      source: 'api',
      actor: sender,
      dataKeyId,
      counts: {},
    });
    const indexKey = await keyring.blindIndexKey(pool);
    const id = randomUUID();
    const subjectKeys = new Set(
      (spec.observations ?? []).flatMap((source) => {
        const reference = (source['subject'] as { reference?: string } | undefined)?.reference;
        const key = reference === undefined ? undefined : referenceKey(reference);
        return key === undefined ? [] : [key];
      }),
    );
    const references = [...subjectKeys].map((subjectKey) => ({
      refBidx: referenceIndex(indexKey, sender, subjectKey),
      patientId: id,
    }));
    const seal = (table: string, column: string, rowId: string, text: string | undefined) =>
      text === undefined ? null : encryptField(key, text, { table, column, rowId });
    const patient: PatientRow = {
      id,
      mrnBidx: blindIndex(indexKey, 'mrn', spec.mrn),
      ssnBidx: spec.ssn === undefined ? null : blindIndex(indexKey, 'ssn', spec.ssn),
      mrnEnc: encryptField(key, spec.mrn, { table: 'patients', column: 'mrn_enc', rowId: id }),
      nameEnc: seal('patients', 'name_enc', id, spec.name),
      birthDateEnc: seal('patients', 'birth_date_enc', id, spec.birthDate),
      ssnEnc: seal('patients', 'ssn_enc', id, spec.ssn),
      addressEnc: null,
      telecomEnc: null,
      sourceEnc: encryptField(key, JSON.stringify(spec.source), {
        table: 'patients',
        column: 'source_enc',
        rowId: id,
      }),
      gender: spec.gender ?? null,
      recordDigest: randomBytes(32),
      dataKeyId,
    };
    indexKey.fill(0);
    await upsertPatients(pool, runId, [patient]);
    await upsertPatientReferences(pool, runId, references);
    if (spec.consent !== null) {
      await upsertConsents(pool, [
        {
          patientId: id,
          dataSharing: spec.consent,
          research: false,
          source: 'test',
          recordedAt: new Date(),
          explicit: true,
          recordedBy: 'system:test',
          runId: null,
        },
      ]);
    }
    const observations = new Map<string, string>();
    const rows: FhirResourceRow[] = (spec.observations ?? []).map((source) => {
      const rowId = randomUUID();
      observations.set(String(source['id']), rowId);
      const coding = (source['code'] as { coding: { system?: string; code: string }[] }).coding[0];
      const effective = source['effectiveDateTime'];
      return {
        id: rowId,
        resourceType: 'Observation',
        patientId: id,
        category: 'laboratory',
        codeSystem: coding?.system ?? null,
        code: coding?.code ?? null,
        principalAt: typeof effective === 'string' ? new Date(effective) : null,
        status: String(source['status']),
        sourceEnc: encryptField(key, JSON.stringify(source), {
          table: 'fhir_resources',
          column: 'source_enc',
          rowId,
        }),
        recordDigest: randomBytes(32),
        dataKeyId,
      };
    });
    await upsertFhirResources(pool, runId, rows);
    key.fill(0);
    return { id, observations };
  }

  async function auditOf(actor: string): Promise<AuditRecord[]> {
    const { rows } = await database.pool.query<AuditRecord>(
      `SELECT action, resource_type, resource_id, outcome, details
       FROM audit_log WHERE actor = $1 ORDER BY seq`,
      [actor],
    );
    return rows;
  }

  async function updatedAtOf(table: 'patients' | 'fhir_resources', id: string): Promise<string> {
    const { rows } = await database.pool.query<{ updated_at: Date }>(
      `SELECT updated_at FROM ${table} WHERE id = $1`,
      [id],
    );
    return rows[0]!.updated_at.toISOString();
  }

  function readAs(bearer: string | undefined, id: string) {
    return readPatient(
      getEvent(`/fhir/r4/Patient/${id}`, {
        ...(bearer === undefined ? {} : { bearer }),
        pathParameters: { id },
      }),
      lambdaContext,
    );
  }

  function searchAs(bearer: string | undefined, query: Record<string, string>) {
    return searchObservations(
      getEvent('/fhir/r4/Observation', { ...(bearer === undefined ? {} : { bearer }), query }),
      lambdaContext,
    );
  }

  /** The expected FHIR Observation of a fixture stored under `rowId` for `patientId`. */
  async function expectedObservation(source: Json, rowId: string, patientId: string) {
    const { id: _theirs, meta, subject: _theirSubject, ...elements } = source;
    return {
      ...elements,
      resourceType: 'Observation',
      id: rowId,
      meta: {
        ...(meta as Json | undefined),
        lastUpdated: await updatedAtOf('fhir_resources', rowId),
      },
      subject: { reference: `Patient/${patientId}` },
    };
  }

  beforeAll(async () => {
    ({ handler: readPatient } = await import('../../../functions/fhir/readPatient.ts'));
    ({ handler: searchObservations } = await import(
      '../../../functions/fhir/searchObservations.ts'
    ));
    ({ handler: getPatientV1 } = await import('../../../functions/api/getPatient.ts'));
    const { pipelineDependencies } = await import('../../../lib/runtime.ts');
    deps = pipelineDependencies();
  });

  describe('GET /fhir/r4/Patient/{id}', () => {
    it('returns a patient received as FHIR as sent, under our id, with one READ row', async () => {
      // Prepare
      const source = patientFixtures[0]!;
      const { id } = await seed({ mrn: 'MRN-FHIR-READ-1', source, consent: true });
      const actor = 'user:fhir-read-fhir';

      // Act
      const response = await readAs(await token(actor, [PATIENT_SCOPE]), id);

      // Assess
      expect(response.statusCode).toBe(200);
      expect(response.headers?.['content-type']).toBe('application/fhir+json');
      const { id: _senderId, meta, ...elements } = source;
      expect(bodyOf(response)).toStrictEqual({
        ...elements,
        id,
        meta: { ...(meta as Json), lastUpdated: await updatedAtOf('patients', id) },
      });
      expect(await auditOf(actor)).toEqual([
        {
          action: 'READ',
          resource_type: 'Patient',
          resource_id: id,
          outcome: 'success',
          details: { via: 'fhir-read' },
        },
      ]);
    });

    it('builds an R4 Patient from a flat record, without its consent object', async () => {
      // Prepare
      const flat = {
        resourceType: 'Patient',
        mrn: 'MRN-FHIR-FLAT-1',
        name: 'Flora Flat',
        birthDate: '1984-06-07',
        gender: 'female',
        ssn: '123-45-0001',
        consent: { data_sharing: true, research: false },
      };
      const { id } = await seed({ ...flat, source: flat, consent: true });
      const actor = 'user:fhir-read-flat';

      // Act
      const response = await readAs(await token(actor, [PATIENT_SCOPE]), id);

      // Assess
      expect(response.statusCode).toBe(200);
      expect(bodyOf(response)).toStrictEqual({
        resourceType: 'Patient',
        id,
        meta: { lastUpdated: await updatedAtOf('patients', id) },
        identifier: [
          {
            type: {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/v2-0203',
                  code: 'MR',
                  display: 'Medical record number',
                },
              ],
            },
            value: 'MRN-FHIR-FLAT-1',
          },
          { system: 'http://hl7.org/fhir/sid/us-ssn', value: '123-45-0001' },
        ],
        name: [{ text: 'Flora Flat' }],
        gender: 'female',
        birthDate: '1984-06-07',
      });
      expect(response.body).not.toContain('data_sharing');
    });

    it.each([
      ['whose consent refuses data sharing', false],
      ['without any consent on record', null],
    ] as const)(
      'refuses a patient %s: 403 OperationOutcome and one DENY row',
      async (_, consent) => {
        // Prepare
        const source = patientFixtures[1]!;
        const mrn = `MRN-FHIR-DENY-${String(consent)}`;
        const { id } = await seed({ mrn, source, consent });
        const actor = `user:fhir-read-deny-${String(consent)}`;

        // Act
        const response = await readAs(await token(actor, [PATIENT_SCOPE]), id);

        // Assess
        expect(response.statusCode).toBe(403);
        expect(response.headers?.['content-type']).toBe('application/fhir+json');
        expect(issuesOf(response)).toEqual([
          {
            severity: 'error',
            code: 'forbidden',
            diagnostics: 'the patient has not consented to data sharing',
          },
        ]);
        for (const value of ['Cole117', '1960-04-13', mrn]) {
          expect(response.body).not.toContain(value);
        }
        expect(await auditOf(actor)).toEqual([
          {
            action: 'DENY',
            resource_type: 'Patient',
            resource_id: id,
            outcome: 'denied',
            details: { reason: 'consent', via: 'fhir-read' },
          },
        ]);
      },
    );

    it.each([
      [
        'an unknown uuid',
        '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c',
        '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c',
      ],
      ['an id that is not a uuid', 'not-a-uuid', null],
    ])('answers %s with 404 OperationOutcome, audited as a failure', async (_, id, audited) => {
      // Prepare
      const actor = `user:fhir-read-missing-${id.length}`;

      // Act
      const response = await readAs(await token(actor, [PATIENT_SCOPE]), id);

      // Assess
      expect(response.statusCode).toBe(404);
      expect(issuesOf(response)).toEqual([
        { severity: 'error', code: 'not-found', diagnostics: 'no such patient' },
      ]);
      expect(await auditOf(actor)).toEqual([
        {
          action: 'READ',
          resource_type: 'Patient',
          resource_id: audited,
          outcome: 'failure',
          details: { reason: 'not-found', via: 'fhir-read' },
        },
      ]);
    });
  });

  describe('GET /fhir/r4/Observation?patient=', () => {
    it('returns every observation exactly as sent, with one READ row each and none for the Patient', async () => {
      // Prepare
      const patient = await seed({
        mrn: 'MRN-FHIR-OBS-1',
        source: patientFixtures[2]!,
        consent: true,
        observations: observationFixtures,
      });
      const actor = 'user:fhir-search-all';

      // Act
      const response = await searchAs(await token(actor, [OBSERVATION_SCOPE]), {
        patient: patient.id,
      });

      // Assess
      expect(response.statusCode).toBe(200);
      expect(response.headers?.['content-type']).toBe('application/fhir+json');
      const bundle = bodyOf(response);
      expect(bundle).toMatchObject({
        resourceType: 'Bundle',
        type: 'searchset',
        total: observationFixtures.length,
        link: [{ relation: 'self', url: `${BASE}/Observation?patient=${patient.id}&_count=100` }],
      });
      const entries = bundle['entry'] as { fullUrl: string; resource: Json; search: Json }[];
      expect(entries).toHaveLength(observationFixtures.length);
      for (const source of observationFixtures) {
        const rowId = patient.observations.get(String(source['id']))!;
        const entry = entries.find((candidate) => candidate.resource['id'] === rowId);
        expect(entry).toStrictEqual({
          fullUrl: `${BASE}/Observation/${rowId}`,
          resource: await expectedObservation(source, rowId, patient.id),
          search: { mode: 'match' },
        });
      }
      const times = entries.map((entry) => Date.parse(String(entry.resource['effectiveDateTime'])));
      expect(times).toEqual(times.toSorted((a, b) => a - b));
      const audit = await auditOf(actor);
      expect(audit).toHaveLength(observationFixtures.length);
      expect(audit.map((row) => row.resource_id)).toEqual(
        entries.map((entry) => entry.resource['id']),
      );
      for (const row of audit) {
        expect(row).toMatchObject({
          action: 'READ',
          resource_type: 'Observation',
          outcome: 'success',
          details: { via: 'fhir-search', patientId: patient.id },
        });
      }
    });

    it.each([
      ['patient=Patient/<id>', (id: string) => ({ patient: `Patient/${id}` })],
      ['subject=Patient/<id>', (id: string) => ({ subject: `Patient/${id}` })],
      ['subject:Patient=<id>', (id: string) => ({ 'subject:Patient': id })],
    ])('finds the same observations by %s', async (_, query) => {
      // Prepare
      const patient = await seed({
        mrn: `MRN-FHIR-OBS-REF-${_.length}`,
        source: patientFixtures[3]!,
        consent: true,
        observations: observationFixtures.slice(0, 2),
      });
      const actor = `user:fhir-search-ref-${_.length}`;

      // Act
      const response = await searchAs(await token(actor, [OBSERVATION_SCOPE]), query(patient.id));

      // Assess
      expect(response.statusCode).toBe(200);
      expect(bodyOf(response)['total']).toBe(2);
    });

    it.each([
      ['whose consent refuses data sharing', false],
      ['without any consent on record', null],
    ] as const)(
      'refuses the observations of a patient %s: 403, one DENY row, no value',
      async (_, consent) => {
        // Prepare
        const patient = await seed({
          mrn: `MRN-FHIR-OBS-DENY-${String(consent)}`,
          source: patientFixtures[4]!,
          consent,
          observations: observationFixtures,
        });
        const actor = `user:fhir-search-deny-${String(consent)}`;

        // Act
        const response = await searchAs(await token(actor, [OBSERVATION_SCOPE]), {
          patient: patient.id,
        });

        // Assess
        expect(response.statusCode).toBe(403);
        expect(response.headers?.['content-type']).toBe('application/fhir+json');
        expect(issuesOf(response)[0]).toMatchObject({ code: 'forbidden' });
        for (const value of [...OBSERVATION_VALUES, ...patient.observations.values()]) {
          expect(response.body).not.toContain(value);
        }
        expect(await auditOf(actor)).toEqual([
          {
            action: 'DENY',
            resource_type: 'Patient',
            resource_id: patient.id,
            outcome: 'denied',
            details: { reason: 'consent', via: 'fhir-search' },
          },
        ]);
      },
    );

    it('refuses on the very next search once consent is revoked', async () => {
      // Prepare
      const patient = await seed({
        mrn: 'MRN-FHIR-OBS-REVOKE',
        source: patientFixtures[5]!,
        consent: true,
        observations: observationFixtures.slice(0, 3),
      });
      const actor = 'user:fhir-search-revoke';
      const bearer = await token(actor, [OBSERVATION_SCOPE]);
      const before = await searchAs(bearer, { patient: patient.id });
      await database.pool.query('UPDATE consents SET data_sharing = false WHERE patient_id = $1', [
        patient.id,
      ]);

      // Act
      const after = await searchAs(bearer, { patient: patient.id });

      // Assess
      expect(before.statusCode).toBe(200);
      expect(after.statusCode).toBe(403);
      expect((await auditOf(actor)).map((row) => [row.action, row.resource_type])).toEqual([
        ['READ', 'Observation'],
        ['READ', 'Observation'],
        ['READ', 'Observation'],
        ['DENY', 'Patient'],
      ]);
    });

    it.each([
      [
        'an unknown uuid',
        'c0ffee00-1234-4abc-8def-00112233aabb',
        'c0ffee00-1234-4abc-8def-00112233aabb',
      ],
      ['an id that is not a uuid', 'not-a-uuid', null],
    ])('answers %s with 404, audited as a failure', async (_, id, audited) => {
      // Prepare
      const actor = `user:fhir-search-missing-${id.length}`;

      // Act
      const response = await searchAs(await token(actor, [OBSERVATION_SCOPE]), { patient: id });

      // Assess
      expect(response.statusCode).toBe(404);
      expect(issuesOf(response)[0]).toMatchObject({ code: 'not-found' });
      expect(await auditOf(actor)).toEqual([
        {
          action: 'READ',
          resource_type: 'Patient',
          resource_id: audited,
          outcome: 'failure',
          details: { reason: 'not-found', via: 'fhir-search' },
        },
      ]);
    });

    it.each<[string, Record<string, string>, string]>([
      ['no patient', {}, '/patient'],
      ['_count=0', { patient: '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c', _count: '0' }, '/_count'],
      [
        '_count=1001',
        { patient: '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c', _count: '1001' },
        '/_count',
      ],
      [
        'a forged cursor',
        { patient: '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c', _cursor: 'abc' },
        '/_cursor',
      ],
    ])(
      'answers a search with %s with 400 OperationOutcome, reading nothing',
      async (_, query, path) => {
        // Prepare
        const actor = `user:fhir-search-bad-${path.slice(1)}-${Object.keys(query).length}`;

        // Act
        const response = await searchAs(await token(actor, [OBSERVATION_SCOPE]), query);

        // Assess
        expect(response.statusCode).toBe(400);
        const issues = issuesOf(response);
        expect(issues[0]).toMatchObject({ severity: 'error', code: 'invalid' });
        expect(String(issues[1]?.['diagnostics'])).toMatch(new RegExp(`^${path}: `));
        expect(await auditOf(actor)).toEqual([]);
      },
    );

    it.each([1, 2, 5, 12, 1000])(
      'pages with _count=%i through every observation exactly once, in order',
      async (count) => {
        // Prepare
        const undated = observationFixtures.slice(0, 3).map((source, index) => {
          const { effectiveDateTime: _dropped, ...rest } = source;
          return { ...rest, id: `undated-${index}` };
        });
        const patient = await seed({
          mrn: `MRN-FHIR-PAGES-${count}`,
          source: patientFixtures[6]!,
          consent: true,
          observations: [...observationFixtures, ...undated],
        });
        const { rows: ordered } = await database.pool.query<{ id: string }>(
          'SELECT id FROM fhir_resources WHERE patient_id = $1 ORDER BY principal_at NULLS LAST, id',
          [patient.id],
        );
        const actor = `user:fhir-search-pages-${count}`;
        const bearer = await token(actor, [OBSERVATION_SCOPE]);
        const seen: string[] = [];
        const totals: unknown[] = [];
        let query: Record<string, string> | undefined = {
          patient: patient.id,
          _count: String(count),
        };

        // Act
        while (query !== undefined) {
          const response = await searchAs(bearer, query);
          expect(response.statusCode).toBe(200);
          const bundle = bodyOf(response);
          totals.push(bundle['total']);
          const entries = bundle['entry'] as { resource: Json }[];
          expect(entries.length).toBeLessThanOrEqual(count);
          seen.push(...entries.map((entry) => String(entry.resource['id'])));
          const next = (bundle['link'] as { relation: string; url: string }[]).find(
            (link) => link.relation === 'next',
          );
          query =
            next === undefined ? undefined : Object.fromEntries(new URL(next.url).searchParams);
        }

        // Assess
        expect(ordered).toHaveLength(12);
        expect(seen).toEqual(ordered.map((row) => row.id));
        expect(new Set(totals)).toEqual(new Set([12]));
        expect(totals).toHaveLength(Math.max(1, Math.ceil(12 / count)));
        const audit = await auditOf(actor);
        expect(audit.map((row) => row.resource_id)).toEqual(seen);
      },
    );
  });

  describe('authentication, scopes and the rate limit answer in FHIR', () => {
    it.each([
      ['user/Observation.rs'],
      ['user/Observation.s'],
      ['user/Observation.read'],
      ['user/*.rs'],
    ])('lets %s search', async (scope) => {
      // Prepare
      const patient = await seed({
        mrn: `MRN-FHIR-SCOPE-${scope}`,
        source: patientFixtures[7]!,
        consent: true,
        observations: observationFixtures.slice(0, 1),
      });

      // Act
      const response = await searchAs(await token(`user:scope-${scope}`, [scope]), {
        patient: patient.id,
      });

      // Assess
      expect(response.statusCode).toBe(200);
    });

    it.each([['user/Observation.r'], ['user/Patient.rs'], ['system/Observation.rs']])(
      'refuses a search with only %s: 403 OperationOutcome with the scope challenge',
      async (scope) => {
        // Act
        const response = await searchAs(await token(`user:scope-no-${scope}`, [scope]), {
          patient: '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c',
        });

        // Assess
        expect(response.statusCode).toBe(403);
        expect(response.headers?.['www-authenticate']).toContain('insufficient_scope');
        expect(issuesOf(response)).toEqual([
          {
            severity: 'error',
            code: 'forbidden',
            diagnostics: 'requires one of the scopes: user/Observation.s, patient/Observation.s',
          },
        ]);
        expect(await auditOf(`user:scope-no-${scope}`)).toEqual([]);
      },
    );

    it.each([
      ['the Patient read', 'read'],
      ['the Observation search', 'search'],
    ])(
      'answers %s without a token with 401 OperationOutcome and the bearer challenge',
      async (_, route) => {
        // Act
        const response =
          route === 'read'
            ? await readAs(undefined, '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c')
            : await searchAs(undefined, { patient: '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c' });

        // Assess
        expect(response.statusCode).toBe(401);
        expect(response.headers?.['content-type']).toBe('application/fhir+json');
        expect(response.headers?.['www-authenticate']).toContain('invalid_token');
        expect(issuesOf(response)[0]).toMatchObject({ severity: 'error', code: 'login' });
        expect(bodyOf(response)['extension']).toEqual([
          expect.objectContaining({ valueString: response.headers?.['x-correlation-id'] }),
        ]);
      },
    );

    it('answers a token past its rate with 429 OperationOutcome and Retry-After', async () => {
      // Prepare
      const bearer = await token('user:fhir-rate', [OBSERVATION_SCOPE]);
      for (let i = 0; i < RATE.burst; i += 1) {
        await takeRequest(database.pool, tenantBucket('user:fhir-rate'), RATE);
      }

      // Act
      const response = await searchAs(bearer, { patient: '0b7e4c1a-5d2f-4e8a-9c3b-6f1d2e3a4b5c' });

      // Assess
      expect(response.statusCode).toBe(429);
      expect(Number(response.headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(issuesOf(response)[0]).toMatchObject({ code: 'throttled' });
      expect(await auditOf('user:fhir-rate')).toEqual([]);
    });
  });

  describe('the v1 API beside it', () => {
    it('still answers GET /api/v1/patients/{id} with the decrypted view and a READ row via id', async () => {
      // Prepare
      const flat = {
        resourceType: 'Patient',
        mrn: 'MRN-V1-BESIDE-1',
        name: 'Vera Version',
        birthDate: '1970-07-07',
        gender: 'female',
        ssn: '123-45-0077',
      };
      const { id } = await seed({ ...flat, source: flat, consent: true });
      const actor = 'user:v1-beside';

      // Act
      const response = await getPatientV1(
        getEvent(`/api/v1/patients/${id}`, {
          bearer: await token(actor, [PATIENT_SCOPE]),
          pathParameters: { id },
        }),
        lambdaContext,
      );

      // Assess
      expect(response.statusCode).toBe(200);
      expect(response.headers?.['content-type']).toBe('application/json');
      expect(bodyOf(response)).toStrictEqual({
        id,
        mrn: 'MRN-V1-BESIDE-1',
        name: 'Vera Version',
        birthDate: '1970-07-07',
        gender: 'female',
        ssn: '123-45-0077',
        consent: { dataSharing: true, research: false, recordedAt: expect.any(String) },
      });
      expect(await auditOf(actor)).toEqual([
        {
          action: 'READ',
          resource_type: 'Patient',
          resource_id: id,
          outcome: 'success',
          details: { via: 'id' },
        },
      ]);
    });

    it('still answers a refused v1 read with problem+json', async () => {
      // Prepare
      const { id } = await seed({
        mrn: 'MRN-V1-BESIDE-2',
        source: patientFixtures[7]!,
        consent: false,
      });
      const actor = 'user:v1-beside-denied';

      // Act
      const response = await getPatientV1(
        getEvent(`/api/v1/patients/${id}`, {
          bearer: await token(actor, [PATIENT_SCOPE]),
          pathParameters: { id },
        }),
        lambdaContext,
      );

      // Assess
      expect(response.statusCode).toBe(403);
      expect(response.headers?.['content-type']).toBe('application/problem+json');
      expect(bodyOf(response)).toMatchObject({
        type: 'urn:problem:healthcare-etl:forbidden',
        status: 403,
      });
      expect((await auditOf(actor)).map((row) => row.details)).toEqual([
        { reason: 'consent', via: 'id' },
      ]);
    });
  });
});
