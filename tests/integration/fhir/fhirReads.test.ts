import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiHandler } from '../../../lib/api/apiHandler.ts';
import type { AuthenticatedEvent } from '../../../lib/auth/middleware.ts';
import { LocalKeyService } from '../../../lib/crypto/localKeyService.ts';
import type { Queryable } from '../../../lib/db/pool.ts';
import { upsertConsents } from '../../../lib/db/repositories/consents.ts';
import { referencesIn } from '../../../lib/fhir/r4/references.ts';
import { PATIENT_DATA_TYPES } from '../../../lib/fhir/r4/search.ts';
import { resolveReferences } from '../../../lib/patients/fhirReferences.ts';
import { resourceIdOf } from '../../../lib/pipeline/resourceIdentity.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { useDeployedEnvironment } from '../../helpers/deployedEnvironment.ts';
import {
  bundle,
  consentFor,
  type FhirJson,
  MR_TYPE,
  ndjson,
  patientResource,
} from '../../helpers/fhir.ts';
import {
  bearerToken,
  gatewayGetEvent,
  lambdaContextOf,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
} from '../../helpers/gatewayEvents.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';

type Json = Record<string, unknown>;

const HOST = 'fhir.example.test';
const BASE = `https://${HOST}/fhir/r4`;
const JWT_SECRET = randomBytes(32);
const MASTER_KEY = randomBytes(32);
const SENDER = 'system:ehr-export';
const READ_ALL = ['user/Patient.r', 'user/*.rs'];
const NPI = 'http://hl7.org/fhir/sid/us-npi';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const lambdaContext = lambdaContextOf('fhir');

const PATIENT_A = 'urn:uuid:0a0a0a0a-0000-4000-8000-00000000000a';
const PATIENT_B = 'urn:uuid:0b0b0b0b-0000-4000-8000-00000000000b';
const ENCOUNTER_A = 'urn:uuid:0e0e0e0e-0000-4000-8000-00000000000e';

const practitioner = {
  resourceType: 'Practitioner',
  id: 'prac-1',
  identifier: [{ system: NPI, value: '9999999999' }],
  name: [{ family: 'Chalmers', given: ['Peter'] }],
};
const organization = {
  resourceType: 'Organization',
  id: 'org-1',
  identifier: [{ system: 'urn:test:org', value: 'ORG-1' }],
  name: 'Springfield General',
};
const encounterA = {
  resourceType: 'Encounter',
  id: 'enc-a',
  status: 'finished',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
  subject: { reference: PATIENT_A },
  participant: [{ individual: { reference: `Practitioner?identifier=${NPI}|9999999999` } }],
  serviceProvider: { reference: 'Organization/org-1' },
  period: { start: '2024-02-10T09:00:00Z', end: '2024-02-10T10:00:00Z' },
};
const conditionOld = {
  resourceType: 'Condition',
  id: 'cond-old',
  clinicalStatus: {
    coding: [
      { system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'resolved' },
    ],
  },
  category: [
    {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/condition-category',
          code: 'encounter-diagnosis',
        },
      ],
    },
  ],
  code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] },
  subject: { reference: 'Patient/pat-a' },
  encounter: { reference: ENCOUNTER_A },
  onsetDateTime: '2023-05-01T08:00:00Z',
};
const conditionNew = {
  resourceType: 'Condition',
  id: 'cond-new',
  clinicalStatus: {
    coding: [
      { system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' },
    ],
  },
  code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] },
  subject: { reference: 'Patient/pat-a' },
  recorder: { reference: 'Practitioner/never-sent' },
  onsetDateTime: '2024-03-01',
};
const observationA = {
  resourceType: 'Observation',
  id: 'obs-a',
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
  code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
  subject: { reference: 'Patient/pat-a' },
  encounter: { reference: 'Encounter/enc-a' },
  effectiveDateTime: '2024-02-10T09:30:00Z',
  valueQuantity: { value: 121, unit: 'mm[Hg]' },
};
const encounterB = {
  resourceType: 'Encounter',
  id: 'enc-b',
  status: 'finished',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
  subject: { reference: 'Patient/pat-b' },
  period: { start: '2024-01-01T09:00:00Z' },
};

function token(subject: string, scopes: readonly string[]): Promise<string> {
  return bearerToken(JWT_SECRET, subject, scopes);
}

function bodyOf(response: APIGatewayProxyStructuredResultV2): Json {
  return JSON.parse(response.body ?? '') as Json;
}

interface Entry {
  readonly fullUrl: string;
  readonly resource: Json;
  readonly search: { readonly mode: string };
}

function entriesOf(response: APIGatewayProxyStructuredResultV2): Entry[] {
  return (bodyOf(response)['entry'] as Entry[] | undefined) ?? [];
}

function nextOf(response: APIGatewayProxyStructuredResultV2): string | undefined {
  const links = bodyOf(response)['link'] as { relation: string; url: string }[];
  return links.find((link) => link.relation === 'next')?.url;
}

interface AuditRecord {
  action: string;
  resource_type: string;
  resource_id: string | null;
  outcome: string;
  details: Json;
}

describe('FHIR R4 reads of every type: read, search and $everything over the real pipeline', () => {
  const database = useTestDatabase();
  useDeployedEnvironment(database, {
    AUTH_JWT_SECRET: JWT_SECRET.toString('base64'),
    AUTH_ISSUER: TOKEN_ISSUER,
    AUTH_AUDIENCE: TOKEN_AUDIENCE,
    AUTH_JWKS_URL: undefined,
    // The pipeline below and the handlers' runtime wrap keys under the same master key.
    LOCAL_MASTER_KEY: MASTER_KEY.toString('base64'),
    RATE_LIMIT_PER_MINUTE: '6000',
    RATE_LIMIT_BURST: '1000',
  });
  const pipeline = useTestPipeline(database, { keyService: new LocalKeyService(MASTER_KEY) });
  let read: ApiHandler;
  let search: ApiHandler;
  let everything: ApiHandler;
  let metadata: ApiHandler;
  /** Our id of each resource, by the sender's `Type/id`. */
  let ours: Map<string, string>;
  let patientA: string;
  let patientB: string;

  async function call(
    handler: ApiHandler,
    path: string,
    options: {
      readonly scopes?: readonly string[];
      readonly subject?: string;
      readonly pathParameters?: Record<string, string>;
      readonly query?: Record<string, string>;
    },
  ): Promise<APIGatewayProxyStructuredResultV2> {
    const bearer =
      options.scopes === undefined
        ? undefined
        : await token(options.subject ?? 'user:reader', options.scopes);
    const event: AuthenticatedEvent = gatewayGetEvent(path, {
      host: HOST,
      ...(bearer === undefined ? {} : { bearer }),
      ...(options.pathParameters === undefined ? {} : { pathParameters: options.pathParameters }),
      ...(options.query === undefined ? {} : { query: options.query }),
    });
    return (await handler(event, lambdaContext)) as APIGatewayProxyStructuredResultV2;
  }

  function readAs(subject: string, scopes: readonly string[], type: string, id: string) {
    return call(read, `/fhir/r4/${type}/${id}`, {
      subject,
      scopes,
      pathParameters: { type, id },
    });
  }

  function searchAs(
    subject: string,
    scopes: readonly string[],
    type: string,
    query: Record<string, string>,
  ) {
    return call(search, `/fhir/r4/${type}`, { subject, scopes, pathParameters: { type }, query });
  }

  function everythingAs(
    subject: string,
    scopes: readonly string[],
    id: string,
    query: Record<string, string> = {},
  ) {
    return call(everything, `/fhir/r4/Patient/${id}/$everything`, {
      subject,
      scopes,
      pathParameters: { id },
      query,
    });
  }

  async function auditOf(actor: string): Promise<AuditRecord[]> {
    const { rows } = await database.pool.query<AuditRecord>(
      `SELECT action, resource_type, resource_id, outcome, details
       FROM audit_log WHERE actor = $1 ORDER BY seq`,
      [actor],
    );
    return rows;
  }

  beforeAll(async () => {
    ({ handler: read } = await import('../../../functions/fhir/read.ts'));
    ({ handler: search } = await import('../../../functions/fhir/search.ts'));
    ({ handler: everything } = await import('../../../functions/fhir/everything.ts'));
    ({ handler: metadata } = await import('../../../functions/fhir/metadata.ts'));

    const body = bundle('transaction', [
      { fullUrl: PATIENT_A, resource: patientResource('pat-a', 'MRN-READS-A', 'Alpha') },
      { fullUrl: PATIENT_B, resource: patientResource('pat-b', 'MRN-READS-B', 'Beta') },
      { resource: consentFor('Patient/pat-a') },
      { resource: consentFor('Patient/pat-b') },
      { resource: practitioner },
      { resource: organization },
      { fullUrl: ENCOUNTER_A, resource: encounterA },
      { resource: conditionOld },
      { resource: conditionNew },
      { resource: observationA },
      { resource: encounterB },
    ]);
    const { runId, execution } = await pipeline.ingestBody(body, 'application/fhir+json', SENDER);
    expect(execution.status).toBe('SUCCEEDED');
    const { rows: patients } = await database.pool.query<{ id: string }>(
      'SELECT id FROM patients WHERE created_run_id = $1 ORDER BY created_at, id',
      [runId],
    );
    expect(patients).toHaveLength(2);
    const { rows } = await database.pool.query<{ id: string; resource_type: string }>(
      'SELECT id, resource_type FROM fhir_resources WHERE created_run_id = $1',
      [runId],
    );
    expect(rows).toHaveLength(7);
    ours = new Map();
    // Each sender id is unique per type here: name our rows by reading each back.
    for (const [type, senderId] of [
      ['Practitioner', 'prac-1'],
      ['Organization', 'org-1'],
      ['Encounter', 'enc-a'],
      ['Encounter', 'enc-b'],
      ['Condition', 'cond-old'],
      ['Condition', 'cond-new'],
      ['Observation', 'obs-a'],
    ] as const) {
      const indexKey = await pipeline.deps.keyring.blindIndexKey(database.pool);
      const id = resourceIdOf(indexKey, SENDER, `${type}/${senderId}`);
      indexKey.fill(0);
      expect(rows.map((row) => row.id)).toContain(id);
      ours.set(`${type}/${senderId}`, id);
    }
    const patientOf = async (reference: string): Promise<string> => {
      const { rows: owners } = await database.pool.query<{ patient_id: string }>(
        'SELECT patient_id FROM fhir_resources WHERE id = $1',
        [ours.get(reference)],
      );
      return owners[0]?.patient_id as string;
    };
    patientA = await patientOf('Condition/cond-old');
    patientB = await patientOf('Encounter/enc-b');
    // Patient B revokes data sharing after the load.
    await upsertConsents(database.pool, [
      {
        patientId: patientB,
        dataSharing: false,
        research: false,
        source: 'patient-portal',
        recordedAt: new Date(),
        explicit: true,
        recordedBy: 'user:b',
        runId: null,
      },
    ]);
  });

  describe('GET /fhir/r4/{type}/{id}', () => {
    it('returns patient data as sent under our ids, references rewritten, one READ row', async () => {
      // Act
      const id = ours.get('Condition/cond-old') as string;
      const response = await readAs('user:read-condition', READ_ALL, 'Condition', id);

      // Assess
      expect(response.statusCode).toBe(200);
      expect(response.headers?.['content-type']).toBe('application/fhir+json');
      const { id: _senderId, subject: _subject, encounter: _encounter, ...sent } = conditionOld;
      expect(bodyOf(response)).toStrictEqual({
        ...sent,
        id,
        meta: { lastUpdated: expect.any(String) },
        subject: { reference: `Patient/${patientA}` },
        encounter: { reference: `Encounter/${ours.get('Encounter/enc-a')}` },
      });
      expect(await auditOf('user:read-condition')).toStrictEqual([
        {
          action: 'READ',
          resource_type: 'Condition',
          resource_id: id,
          outcome: 'success',
          details: { via: 'fhir-read', patientId: patientA },
        },
      ]);
    });

    it('rewrites conditional and literal references to shared resources, and leaves the unknown as sent', async () => {
      // Act
      const encounter = bodyOf(
        await readAs('user:read-encounter', READ_ALL, 'Encounter', ours.get('Encounter/enc-a')!),
      );
      const condition = bodyOf(
        await readAs('user:read-encounter', READ_ALL, 'Condition', ours.get('Condition/cond-new')!),
      );

      // Assess
      expect(encounter['participant']).toStrictEqual([
        { individual: { reference: `Practitioner/${ours.get('Practitioner/prac-1')}` } },
      ]);
      expect(encounter['serviceProvider']).toStrictEqual({
        reference: `Organization/${ours.get('Organization/org-1')}`,
      });
      expect(encounter['subject']).toStrictEqual({ reference: `Patient/${patientA}` });
      expect(condition['recorder']).toStrictEqual({ reference: 'Practitioner/never-sent' });
    });

    it('returns a shared resource without a consent gate, with one READ row', async () => {
      // Act
      const id = ours.get('Practitioner/prac-1') as string;
      const response = await readAs('user:read-practitioner', READ_ALL, 'Practitioner', id);

      // Assess
      expect(response.statusCode).toBe(200);
      const { id: _senderId, ...sent } = practitioner;
      expect(bodyOf(response)).toStrictEqual({
        ...sent,
        id,
        meta: { lastUpdated: expect.any(String) },
      });
      expect(await auditOf('user:read-practitioner')).toStrictEqual([
        {
          action: 'READ',
          resource_type: 'Practitioner',
          resource_id: id,
          outcome: 'success',
          details: { via: 'fhir-read', patientId: null },
        },
      ]);
    });

    it('reads a Patient as the Patient route does', async () => {
      // Act
      const response = await readAs('user:read-patient', READ_ALL, 'Patient', patientA);

      // Assess
      expect(response.statusCode).toBe(200);
      expect(bodyOf(response)).toMatchObject({ resourceType: 'Patient', id: patientA });
    });

    it('refuses the data of a patient who revoked consent: 403 and one DENY row, no value', async () => {
      // Act
      const response = await readAs(
        'user:read-revoked',
        READ_ALL,
        'Encounter',
        ours.get('Encounter/enc-b')!,
      );

      // Assess
      expect(response.statusCode).toBe(403);
      expect(bodyOf(response)['resourceType']).toBe('OperationOutcome');
      expect(response.body).not.toContain('2024-01-01');
      expect(await auditOf('user:read-revoked')).toStrictEqual([
        expect.objectContaining({
          action: 'DENY',
          resource_type: 'Patient',
          resource_id: patientB,
          outcome: 'denied',
        }),
      ]);
    });

    it.each<[string, string, () => string]>([
      ['an unknown id', 'Condition', () => '00000000-0000-4000-8000-000000000000'],
      ['an id that is not a uuid', 'Condition', () => 'cond-old'],
      ['an id of another type', 'Encounter', () => ours.get('Condition/cond-old')!],
    ])('answers %s with 404, audited as a failure', async (_, type, idOf) => {
      // Act
      const subject = `user:miss-${type}-${idOf()}`;
      const response = await readAs(subject, READ_ALL, type, idOf());

      // Assess
      expect(response.statusCode).toBe(404);
      expect(bodyOf(response)['resourceType']).toBe('OperationOutcome');
      expect(await auditOf(subject)).toStrictEqual([
        expect.objectContaining({ action: 'READ', resource_type: type, outcome: 'failure' }),
      ]);
    });

    it.each(['Nope', 'Bundle', 'Consent', 'OperationOutcome'])(
      'answers the type %s with 404',
      async (type) => {
        // Act
        const response = await readAs('user:no-type', READ_ALL, type, patientA);

        // Assess
        expect(response.statusCode).toBe(404);
        expect(bodyOf(response)['resourceType']).toBe('OperationOutcome');
      },
    );

    it.each<[string, readonly string[], number]>([
      ['user/Condition.rs', ['user/Patient.r', 'user/Condition.rs'], 200],
      ['user/*.read', ['user/Patient.r', 'user/*.read'], 200],
      ['system/*.rs', ['system/*.rs'], 200],
      ['user/Encounter.rs only', ['user/Patient.r', 'user/Encounter.rs'], 403],
      ['user/Condition.s only', ['user/Patient.r', 'user/Condition.s'], 403],
      ['no patient read (route scope)', ['user/Condition.rs'], 403],
    ])('reads a Condition with %s: %s', async (_, scopes, status) => {
      // Act
      const response = await readAs(
        'user:scopes',
        scopes,
        'Condition',
        ours.get('Condition/cond-old')!,
      );

      // Assess
      expect(response.statusCode).toBe(status);
    });
  });

  describe('a type the token has no scope for', () => {
    it.each<[string, () => string, () => string | null]>([
      ['a stored id', () => ours.get('Condition/cond-old')!, () => ours.get('Condition/cond-old')!],
      ['an id that is not a uuid', () => 'cond-old', () => null],
    ])('refuses a read of %s: 403 and one DENY row naming the type', async (_, idOf, audited) => {
      // Act
      const subject = `user:read-unscoped-${idOf()}`;
      const response = await readAs(
        subject,
        ['user/Patient.r', 'user/Encounter.rs'],
        'Condition',
        idOf(),
      );

      // Assess
      expect(response.statusCode).toBe(403);
      expect(bodyOf(response)['resourceType']).toBe('OperationOutcome');
      expect(await auditOf(subject)).toStrictEqual([
        {
          action: 'DENY',
          resource_type: 'Condition',
          resource_id: audited(),
          outcome: 'denied',
          details: { via: 'fhir-read', reason: 'scope' },
        },
      ]);
    });

    it('refuses a search: 403 and one DENY row naming the type', async () => {
      // Act
      const response = await searchAs(
        'user:search-unscoped',
        ['user/Patient.r', 'user/Condition.r'],
        'Condition',
        { patient: patientA },
      );

      // Assess
      expect(response.statusCode).toBe(403);
      expect(await auditOf('user:search-unscoped')).toStrictEqual([
        {
          action: 'DENY',
          resource_type: 'Condition',
          resource_id: null,
          outcome: 'denied',
          details: { via: 'fhir-search', reason: 'scope' },
        },
      ]);
    });
  });

  describe('GET /fhir/r4/{type}', () => {
    it('returns the patient’s resources of the type in principal date order, one READ row each', async () => {
      // Act
      const response = await searchAs('user:search', READ_ALL, 'Condition', {
        patient: patientA,
      });

      // Assess
      expect(response.statusCode).toBe(200);
      const body = bodyOf(response);
      expect(body).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 2 });
      const ids = entriesOf(response).map((entry) => entry.resource['id']);
      expect(ids).toEqual([ours.get('Condition/cond-old'), ours.get('Condition/cond-new')]);
      expect(entriesOf(response)[0]?.fullUrl).toBe(`${BASE}/Condition/${ids[0]}`);
      const audit = await auditOf('user:search');
      expect(audit.map((row) => [row.action, row.resource_type, row.resource_id])).toEqual(
        ids.map((id) => ['READ', 'Condition', id]),
      );
      expect(audit.every((row) => row.details['via'] === 'fhir-search')).toBe(true);
    });

    it.each<[string, Record<string, string>, readonly string[]]>([
      ['date=ge2024', { date: 'ge2024' }, ['Condition/cond-new']],
      ['date=2023-05', { date: '2023-05' }, ['Condition/cond-old']],
      ['date=lt2023-05-01T08:00:00Z', { date: 'lt2023-05-01T08:00:00Z' }, []],
      ['code=system|code', { code: 'http://snomed.info/sct|44054006' }, ['Condition/cond-old']],
      ['code=code', { code: '38341003' }, ['Condition/cond-new']],
      ['code=|code (no system)', { code: '|44054006' }, []],
      ['category', { category: 'encounter-diagnosis' }, ['Condition/cond-old']],
      ['status (the clinical status)', { status: 'active' }, ['Condition/cond-new']],
    ])('filters by %s', async (_, filters, expected) => {
      // Act
      const response = await searchAs('user:filters', READ_ALL, 'Condition', {
        patient: patientA,
        ...filters,
      });

      // Assess
      expect(response.statusCode).toBe(200);
      expect(entriesOf(response).map((entry) => entry.resource['id'])).toEqual(
        expected.map((reference) => ours.get(reference)),
      );
      expect(bodyOf(response)['total']).toBe(expected.length);
    });

    it('filters an Encounter by status and pages with _count=1', async () => {
      // Act
      const first = await searchAs('user:pages', READ_ALL, 'Condition', {
        patient: patientA,
        _count: '1',
      });
      const next = new URL(nextOf(first) as string);
      const second = await searchAs(
        'user:pages',
        READ_ALL,
        'Condition',
        Object.fromEntries(next.searchParams),
      );
      const encounters = await searchAs('user:pages', READ_ALL, 'Encounter', {
        subject: `Patient/${patientA}`,
        status: 'finished',
      });

      // Assess
      expect(entriesOf(first).map((entry) => entry.resource['id'])).toEqual([
        ours.get('Condition/cond-old'),
      ]);
      expect(entriesOf(second).map((entry) => entry.resource['id'])).toEqual([
        ours.get('Condition/cond-new'),
      ]);
      expect(nextOf(second)).toBeUndefined();
      expect(entriesOf(encounters).map((entry) => entry.resource['id'])).toEqual([
        ours.get('Encounter/enc-a'),
      ]);
    });

    it('points a logical reference by MRN at our Patient, keeping its identifier', async () => {
      // Prepare
      const { runId } = await pipeline.ingest([flatRecord({ mrn: 'MRN-READS-FLAT' })], SENDER);
      const { rows } = await database.pool.query<{ id: string }>(
        'SELECT id FROM patients WHERE created_run_id = $1',
        [runId],
      );
      const flatPatient = rows[0]?.id as string;
      const subject = { identifier: { type: MR_TYPE, value: 'MRN-READS-FLAT' } };
      const { execution } = await pipeline.ingestBody(
        ndjson([{ ...conditionNew, id: 'cond-flat', subject }]),
        'application/fhir+ndjson',
        SENDER,
      );
      expect(execution.status).toBe('SUCCEEDED');

      // Act
      const response = await searchAs('user:logical', READ_ALL, 'Condition', {
        patient: flatPatient,
      });

      // Assess
      expect(entriesOf(response).map((entry) => entry.resource['subject'])).toEqual([
        { ...subject, reference: `Patient/${flatPatient}` },
      ]);
    });

    it.each<[string, string, readonly string[], number]>([
      ['a shared type', 'Practitioner', READ_ALL, 404],
      ['Patient', 'Patient', READ_ALL, 404],
      ['an unknown type', 'Nope', READ_ALL, 404],
      ['a type the token may only read', 'Condition', ['user/Patient.r', 'user/Condition.r'], 403],
    ])('answers a search of %s with %s', async (_, type, scopes, status) => {
      // Act
      const response = await searchAs('user:bad-search', scopes, type, { patient: patientA });

      // Assess
      expect(response.statusCode).toBe(status);
      expect(bodyOf(response)['resourceType']).toBe('OperationOutcome');
    });

    it.each(['<img src=x onerror=alert(1)>', 'NotSearchedSecretText'])(
      'answers a search of the type %s with 404, never echoing it',
      async (type) => {
        // Act
        const response = await searchAs('user:search-echo', READ_ALL, type, { patient: patientA });

        // Assess
        expect(response.statusCode).toBe(404);
        expect(bodyOf(response)['resourceType']).toBe('OperationOutcome');
        expect(response.body).not.toContain(type);
        expect(response.body).not.toContain('onerror');
        expect(response.body).not.toContain('SecretText');
      },
    );

    it.each<[string, () => Record<string, string>]>([
      ['a NUL byte in code', () => ({ patient: patientA, code: 'a\u0000b' })],
      ['a NUL byte in a code system', () => ({ patient: patientA, code: 's\u0000|c' })],
      ['a NUL byte in status', () => ({ patient: patientA, status: '\u0000final' })],
      ['a NUL byte in category', () => ({ patient: patientA, category: 'x\u0000' })],
      ['a NUL byte in patient', () => ({ patient: `${patientA}\u0000` })],
      [
        'a cursor before year 1',
        () => ({
          patient: patientA,
          _cursor: Buffer.from(
            JSON.stringify(['-999999999999999999', '00000000-0000-4000-8000-000000000000']),
          ).toString('base64url'),
        }),
      ],
      [
        'a cursor after year 9999',
        () => ({
          patient: patientA,
          _cursor: Buffer.from(
            JSON.stringify(['999999999999999999', '00000000-0000-4000-8000-000000000000']),
          ).toString('base64url'),
        }),
      ],
    ])('answers a search with %s with 400', async (_, queryOf) => {
      // Act
      const response = await searchAs('user:search-bad-input', READ_ALL, 'Observation', queryOf());

      // Assess
      expect(response.statusCode).toBe(400);
      expect(bodyOf(response)['resourceType']).toBe('OperationOutcome');
      expect(response.body).not.toContain('\u0000');
    });

    it('refuses a search of a patient who revoked consent: 403 and one DENY row', async () => {
      // Act
      const response = await searchAs('user:search-revoked', READ_ALL, 'Encounter', {
        patient: patientB,
      });

      // Assess
      expect(response.statusCode).toBe(403);
      expect((await auditOf('user:search-revoked')).map((row) => row.action)).toEqual(['DENY']);
    });
  });

  describe('GET /fhir/r4/Patient/{id}/$everything', () => {
    it('returns the Patient, the compartment by type, and the shared resources it references, each audited', async () => {
      // Act
      const response = await everythingAs('user:everything', READ_ALL, patientA);

      // Assess
      expect(response.statusCode).toBe(200);
      const entries = entriesOf(response);
      const named = entries.map((entry) => [
        entry.search.mode,
        entry.resource['resourceType'],
        entry.resource['id'],
      ]);
      expect(named).toEqual([
        ['match', 'Patient', patientA],
        ['match', 'Condition', ours.get('Condition/cond-old')],
        ['match', 'Condition', ours.get('Condition/cond-new')],
        ['match', 'Encounter', ours.get('Encounter/enc-a')],
        ['match', 'Observation', ours.get('Observation/obs-a')],
        ...[
          ['include', 'Organization', ours.get('Organization/org-1')],
          ['include', 'Practitioner', ours.get('Practitioner/prac-1')],
        ].sort((a, b) => String(a[2]).localeCompare(String(b[2]))),
      ]);
      expect(bodyOf(response)['total']).toBe(5);
      const observation = entries.find((entry) => entry.resource['resourceType'] === 'Observation');
      expect(observation?.resource['encounter']).toStrictEqual({
        reference: `Encounter/${ours.get('Encounter/enc-a')}`,
      });
      const audit = await auditOf('user:everything');
      expect(audit.map((row) => [row.action, row.resource_type, row.resource_id]).sort()).toEqual(
        named.map(([, type, id]) => ['READ', type, id]).sort(),
      );
      expect(
        audit.every(
          (row) =>
            row.details['via'] === 'fhir-everything' &&
            (row.resource_type === 'Patient' || row.details['patientId'] === patientA),
        ),
      ).toBe(true);
    });

    it('leaves out the types the token may not read, and pages with _count', async () => {
      // Prepare
      const scopes = ['user/Patient.r', 'user/Condition.rs', 'user/Practitioner.r'];

      // Act
      const first = await everythingAs('user:everything-scoped', scopes, patientA, {
        _count: '1',
      });
      const next = new URL(nextOf(first) as string);
      const second = await everythingAs(
        'user:everything-scoped',
        scopes,
        patientA,
        Object.fromEntries(next.searchParams),
      );

      // Assess
      expect(
        entriesOf(first).map((entry) => [entry.resource['resourceType'], entry.resource['id']]),
      ).toEqual([
        ['Patient', patientA],
        ['Condition', ours.get('Condition/cond-old')],
      ]);
      expect(
        entriesOf(second).map((entry) => [entry.resource['resourceType'], entry.resource['id']]),
      ).toEqual([['Condition', ours.get('Condition/cond-new')]]);
      expect(nextOf(second)).toBeUndefined();
      expect(bodyOf(first)['total']).toBe(3);
    });

    it.each<[string, Record<string, string>, readonly string[]]>([
      [
        '_type=Encounter,Practitioner',
        { _type: 'Encounter,Practitioner' },
        ['Encounter', 'Practitioner'],
      ],
      ['_type=Patient', { _type: 'Patient' }, ['Patient']],
      ['_since in the future', { _since: '2999-01-01T00:00:00Z' }, []],
    ])('narrows by %s', async (_, query, types) => {
      // Act
      const response = await everythingAs('user:everything-narrow', READ_ALL, patientA, query);

      // Assess
      expect(response.statusCode).toBe(200);
      expect(entriesOf(response).map((entry) => entry.resource['resourceType'])).toEqual(types);
    });

    it('refuses the compartment of a patient who revoked consent: 403 and one DENY row', async () => {
      // Act
      const response = await everythingAs('user:everything-revoked', READ_ALL, patientB);

      // Assess
      expect(response.statusCode).toBe(403);
      expect(await auditOf('user:everything-revoked')).toStrictEqual([
        expect.objectContaining({ action: 'DENY', resource_id: patientB }),
      ]);
    });

    it.each<[string, Record<string, string>, number]>([
      ['a type never stored', { _type: 'Consent' }, 400],
      ['a search parameter', { code: 'x' }, 400],
      [
        'a cursor before year 1',
        {
          _cursor: Buffer.from(
            JSON.stringify([
              'Condition',
              '-999999999999999999',
              '00000000-0000-4000-8000-000000000000',
            ]),
          ).toString('base64url'),
        },
        400,
      ],
    ])('answers %s with %s', async (_, query, status) => {
      // Act
      const response = await everythingAs('user:everything-bad', READ_ALL, patientA, query);

      // Assess
      expect(response.statusCode).toBe(status);
    });

    it('returns what is stored under the patient only of the types the token may read and _type names', async () => {
      // Prepare: a Contract (a shared type) that names patient C is stored under C.
      const body = bundle('collection', [
        { resource: patientResource('pat-c', 'MRN-READS-C', 'Gamma') },
        { resource: consentFor('Patient/pat-c') },
        {
          resource: {
            resourceType: 'Contract',
            id: 'ctr-c',
            status: 'executed',
            subject: [{ reference: 'Patient/pat-c' }],
          },
        },
      ]);
      const { runId, execution } = await pipeline.ingestBody(body, 'application/fhir+json', SENDER);
      expect(execution.status).toBe('SUCCEEDED');
      const { rows } = await database.pool.query<{ id: string; patient_id: string | null }>(
        `SELECT id, patient_id FROM fhir_resources
         WHERE created_run_id = $1 AND resource_type = 'Contract'`,
        [runId],
      );
      expect(rows).toHaveLength(1);
      const contract = rows[0]?.id as string;
      const patientC = rows[0]?.patient_id as string;
      expect(patientC).toMatch(UUID);
      const everyPatientDataType = [
        'user/Patient.r',
        ...PATIENT_DATA_TYPES.map((type) => `user/${type}.r`),
      ];
      const named = (response: APIGatewayProxyStructuredResultV2) =>
        entriesOf(response).map((entry) => [entry.resource['resourceType'], entry.resource['id']]);

      // Act
      const all = await everythingAs('user:everything-stored', READ_ALL, patientC);
      const byType = await everythingAs('user:everything-stored-type', READ_ALL, patientC, {
        _type: PATIENT_DATA_TYPES.join(','),
      });
      const byScope = await everythingAs(
        'user:everything-stored-scope',
        everyPatientDataType,
        patientC,
      );
      const contractNamed = await everythingAs('user:everything-stored-named', READ_ALL, patientC, {
        _type: 'Contract',
      });

      // Assess
      expect(PATIENT_DATA_TYPES).not.toContain('Contract');
      expect(named(all)).toEqual([
        ['Patient', patientC],
        ['Contract', contract],
      ]);
      expect(bodyOf(all)['total']).toBe(2);
      expect(named(byType)).toEqual([]);
      expect(bodyOf(byType)['total']).toBe(0);
      expect(named(byScope)).toEqual([['Patient', patientC]]);
      expect(bodyOf(byScope)['total']).toBe(1);
      expect(named(contractNamed)).toEqual([['Contract', contract]]);
      for (const subject of ['user:everything-stored-type', 'user:everything-stored-scope']) {
        expect((await auditOf(subject)).map((row) => row.resource_type)).not.toContain('Contract');
      }
    });

    it('answers an unknown patient with 404', async () => {
      // Act
      const response = await everythingAs(
        'user:everything-none',
        READ_ALL,
        '00000000-0000-4000-8000-000000000000',
      );

      // Assess
      expect(response.statusCode).toBe(404);
    });
  });

  describe('GET /fhir/r4/metadata', () => {
    it('answers without a token with the CapabilityStatement at this base', async () => {
      // Act
      const response = await call(metadata, '/fhir/r4/metadata', {});

      // Assess
      expect(response.statusCode).toBe(200);
      expect(bodyOf(response)).toMatchObject({
        resourceType: 'CapabilityStatement',
        fhirVersion: '4.0.1',
        implementation: { url: BASE },
      });
    });
  });

  describe('resolveReferences', () => {
    it('resolves a page of references in three queries, however many resources name them', async () => {
      // Prepare
      const sources: FhirJson[] = [encounterA, conditionOld, conditionNew, observationA];
      const named = Array.from({ length: 50 }, (_, index) => ({
        namespace: SENDER,
        references: referencesIn(sources[index % sources.length] as FhirJson),
      }));
      let queries = 0;
      const counting: Queryable = {
        query: (text, values) => {
          queries += 1;
          return database.pool.query(text, values === undefined ? undefined : [...values]);
        },
      };
      const indexKey = await pipeline.deps.keyring.blindIndexKey(database.pool);

      // Act
      const resolution = await resolveReferences(counting, indexKey, named);
      indexKey.fill(0);

      // Assess
      expect(queries).toBe(3);
      expect(resolution.replace(SENDER, 'Encounter/enc-a')).toBe(
        `Encounter/${ours.get('Encounter/enc-a')}`,
      );
      expect(resolution.replace(SENDER, ENCOUNTER_A)).toBe(
        `Encounter/${ours.get('Encounter/enc-a')}`,
      );
      expect(resolution.replace(SENDER, PATIENT_A)).toBe(`Patient/${patientA}`);
      expect(resolution.replace(SENDER, 'Practitioner/never-sent')).toBeUndefined();
      expect(resolution.replace('system:another-sender', 'Encounter/enc-a')).toBeUndefined();
      expect(resolution.resources.map((target) => target.resourceType).sort()).toEqual([
        'Encounter',
        'Organization',
        'Practitioner',
      ]);
      expect(resolution.resources.every((target) => UUID.test(target.id))).toBe(true);
    });
  });
});
