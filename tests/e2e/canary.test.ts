import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  DescribeExecutionCommand,
  type ExecutionListItem,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { describe, expect, inject, it } from 'vitest';
import { consentFor, type FhirJson, MR_TYPE } from '../helpers/fhir.ts';
import { type ApiResponse, call, observerClient, query, token } from './api.ts';
import { mapConcurrently } from './workerPool.ts';

/** PHI values no other test uses, so any copy of them outside an encrypted column is a leak. */
interface Canaries {
  readonly name: string;
  readonly mrn: string;
  readonly ssn: string;
  readonly birthDate: string;
}

/** A place PHI could end up, as the bytes found there. */
interface Sink {
  readonly where: string;
  readonly bytes: Buffer;
}

interface Canary {
  readonly label: string;
  readonly bytes: Buffer;
}

const TAG = randomBytes(5).toString('hex').toUpperCase();

function digits(count: number): string {
  return Array.from({ length: count }, () => randomInt(10)).join('');
}

function canariesFor(role: string): Canaries {
  return {
    name: `Zqx${role}canary Vyw${TAG}`,
    mrn: `MRN-CANARY-${role.toUpperCase()}-${TAG}`,
    ssn: `${digits(3)}-${digits(2)}-${digits(4)}`,
    // 1851 to 1899: no timestamp the stack writes looks like these.
    birthDate: `18${randomInt(51, 100)}-0${randomInt(1, 10)}-${randomInt(10, 29)}`,
  };
}

const CONSENTED = canariesFor('consented');
/** Fails validation on its birth date (30 February), which is itself a canary. */
const INVALID = { ...canariesFor('invalid'), birthDate: `18${randomInt(51, 100)}-02-30` };
const REFUSED = canariesFor('refused');

/** A FHIR patient's identity, and the PHI inside the resources of its compartment. */
interface FhirCanaries extends Canaries {
  readonly conditionNote: string;
  readonly documentDescription: string;
  /** Only inside the DocumentReference's base64 attachment. */
  readonly attachmentText: string;
  /** The attachment's data as sent: the base64 of a note that holds attachmentText. */
  readonly attachmentBase64: string;
  readonly encounterReason: string;
  /** In a Condition sent in a later run, naming the patient by id or by MRN. */
  readonly laterNote: string;
}

function fhirCanariesFor(role: string): FhirCanaries {
  const attachmentText = `Qzc${role}attached ${TAG}`;
  return {
    ...canariesFor(role),
    conditionNote: `Cnx${role}note ${TAG}`,
    documentDescription: `Dsx${role}described ${TAG}`,
    attachmentText,
    attachmentBase64: Buffer.from(`Progress note.\nPatient reports: ${attachmentText}\n`).toString(
      'base64',
    ),
    encounterReason: `Rsx${role}reason ${TAG}`,
    laterNote: `Lnx${role}later ${TAG}`,
  };
}

/** Patient data of a consented patient, of one who refused and of one who never decided. */
const FHIR_CONSENTED = fhirCanariesFor('fhirconsented');
const FHIR_REFUSED = fhirCanariesFor('fhirrefused');
const FHIR_ABSENT = fhirCanariesFor('fhirabsent');
/** A clinician's personal data: shared, so stored without a patient's consent, but encrypted. */
const STAFF = {
  family: `Stfx${TAG}family`,
  given: `Stfx${TAG}given`,
  identifier: `STAFF-CANARY-${TAG}`,
};

const PLAIN_CANARIES: readonly Canary[] = Object.entries({
  consented: CONSENTED,
  invalid: INVALID,
  refused: REFUSED,
  fhirConsented: FHIR_CONSENTED,
  fhirRefused: FHIR_REFUSED,
  fhirAbsent: FHIR_ABSENT,
  practitioner: STAFF,
}).flatMap(([record, values]) =>
  Object.entries(values).map(([field, value]) => ({
    label: `${record}.${field}`,
    bytes: Buffer.from(value, 'utf8'),
  })),
);

/**
 * The text every base64 (and base64url) encoding of `canary` holds, whatever the bytes before
 * it: the groups of four characters that encode only the canary's own bytes, at each of the three
 * offsets it may start at. Shorter than 8 characters, a form could turn up by chance.
 */
function base64Forms(canary: Canary): Canary[] {
  const forms = new Map<string, string>();
  for (const offset of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(offset), canary.bytes]).toString('base64');
    const core = encoded.slice(
      4 * Math.ceil(offset / 3),
      4 * Math.floor((offset + canary.bytes.length) / 3),
    );
    if (core.length < 8) continue;
    forms.set(core, `${canary.label} (base64 at offset ${offset})`);
    const url = core.replaceAll('+', '-').replaceAll('/', '_');
    if (url !== core) forms.set(url, `${canary.label} (base64url at offset ${offset})`);
  }
  return [...forms].map(([form, label]) => ({ label, bytes: Buffer.from(form) }));
}

const CANARIES: readonly Canary[] = [...PLAIN_CANARIES, ...PLAIN_CANARIES.flatMap(base64Forms)];

function hitsIn(sink: Sink): string[] {
  return CANARIES.filter((canary) => sink.bytes.includes(canary.bytes)).map(
    (canary) => `${sink.where}: ${canary.label}`,
  );
}

/** Each occurrence with its line number, since the log is one large file. */
function hitsInLog(log: Buffer): string[] {
  const hits: string[] = [];
  for (const canary of CANARIES) {
    for (let at = log.indexOf(canary.bytes); at >= 0; at = log.indexOf(canary.bytes, at + 1)) {
      const line = log.subarray(0, at).toString('latin1').split('\n').length;
      hits.push(`stack log line ${line}: ${canary.label}`);
    }
  }
  return hits;
}

const PRACTITIONER_ID = `canary-practitioner-${TAG}`;

function patientIdOf(role: string): string {
  return `canary-patient-${role}-${TAG}`;
}

function condition(id: string, subject: object, note: string): FhirJson {
  return {
    resourceType: 'Condition',
    id,
    clinicalStatus: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' },
      ],
    },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] },
    subject,
    onsetDateTime: '2025-06-01T09:00:00Z',
    note: [{ text: note }],
  };
}

/** The Patient, a Condition, a DocumentReference and an Encounter, each canary in its place. */
function compartment(
  role: string,
  canaries: FhirCanaries,
): { fullUrl?: string; resource: FhirJson }[] {
  const patientUrl = `urn:uuid:${randomUUID()}`;
  const subject = { reference: patientUrl };
  const clinician = { reference: `Practitioner/${PRACTITIONER_ID}` };
  return [
    {
      fullUrl: patientUrl,
      resource: {
        resourceType: 'Patient',
        id: patientIdOf(role),
        identifier: [
          { type: MR_TYPE, system: 'urn:canary:mrn', value: canaries.mrn },
          { system: 'http://hl7.org/fhir/sid/us-ssn', value: canaries.ssn },
        ],
        name: [{ use: 'official', text: canaries.name }],
        gender: 'unknown',
        birthDate: canaries.birthDate,
      },
    },
    { resource: condition(`canary-condition-${role}-${TAG}`, subject, canaries.conditionNote) },
    {
      resource: {
        resourceType: 'DocumentReference',
        id: `canary-document-${role}-${TAG}`,
        status: 'current',
        type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] },
        subject,
        date: '2026-01-02T10:00:00Z',
        author: [clinician],
        description: canaries.documentDescription,
        content: [
          {
            attachment: {
              contentType: 'text/plain; charset=utf-8',
              data: canaries.attachmentBase64,
            },
          },
        ],
      },
    },
    {
      resource: {
        resourceType: 'Encounter',
        id: `canary-encounter-${role}-${TAG}`,
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject,
        participant: [{ individual: clinician }],
        period: { start: '2026-01-02T10:00:00Z', end: '2026-01-02T10:30:00Z' },
        reasonCode: [{ text: canaries.encounterReason }],
      },
    },
  ];
}

/**
 * One Bundle: the clinician, then each patient's compartment; a permit for the first patient,
 * a refusal for the second, nothing for the third.
 */
function fhirBatch(): string {
  const consented = compartment('consented', FHIR_CONSENTED);
  const refused = compartment('refused', FHIR_REFUSED);
  const absent = compartment('absent', FHIR_ABSENT);
  const urlOf = (entries: typeof consented) => entries[0]?.fullUrl ?? '';
  return JSON.stringify({
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      {
        resource: {
          resourceType: 'Practitioner',
          id: PRACTITIONER_ID,
          identifier: [{ system: 'urn:canary:staff', value: STAFF.identifier }],
          name: [{ family: STAFF.family, given: [STAFF.given], prefix: ['Dr.'] }],
        },
      },
      ...consented,
      { resource: consentFor(urlOf(consented)) },
      ...refused,
      { resource: consentFor(urlOf(refused), { provision: 'deny' }) },
      ...absent,
    ],
  });
}

/**
 * NDJSON sent after the Bundle: a Condition for each patient, the refused one named by its id,
 * the undecided one by its MRN (a logical reference), the consented one by its id.
 */
function laterBatch(): string {
  const later = (role: string, subject: object, canaries: FhirCanaries) =>
    JSON.stringify(condition(`canary-later-${role}-${TAG}`, subject, canaries.laterNote));
  return [
    later('refused', { reference: `Patient/${patientIdOf('refused')}` }, FHIR_REFUSED),
    later('absent', { identifier: { type: MR_TYPE, value: FHIR_ABSENT.mrn } }, FHIR_ABSENT),
    later('consented', { reference: `Patient/${patientIdOf('consented')}` }, FHIR_CONSENTED),
  ].join('\n');
}

function quoted(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/**
 * The equivalent of `pg_dump --data-only`: every row of every table as text, bytea in the
 * escape format (printable bytes appear literally), then every bytea cell as raw bytes.
 */
async function databaseDump(): Promise<Sink[]> {
  const client = observerClient();
  await client.connect();
  try {
    const sinks: Sink[] = [];
    const tables = await client.query<{ name: string }>(
      "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    );
    await client.query("SET bytea_output = 'escape'");
    for (const { name } of tables.rows) {
      const rows = await client.query<{ row: string }>(
        `SELECT t::text AS row FROM public.${quoted(name)} t`,
      );
      rows.rows.forEach(({ row }, index) => {
        sinks.push({ where: `table ${name} row ${index} (as text)`, bytes: Buffer.from(row) });
      });
    }
    await client.query('RESET bytea_output');
    const columns = await client.query<{ table: string; column: string }>(
      `SELECT table_name AS table, column_name AS column FROM information_schema.columns
       WHERE table_schema = 'public' AND data_type = 'bytea' ORDER BY table_name, column_name`,
    );
    for (const { table, column } of columns.rows) {
      const cells = await client.query<{ cell: Buffer }>(
        `SELECT ${quoted(column)} AS cell FROM public.${quoted(table)} WHERE ${quoted(column)} IS NOT NULL`,
      );
      cells.rows.forEach(({ cell }, index) => {
        sinks.push({ where: `table ${table} column ${column} cell ${index} (bytea)`, bytes: cell });
      });
    }
    return sinks;
  } finally {
    await client.end();
  }
}

/**
 * The audit checkpoints the stack keeps outside its database: in embedded mode a directory
 * beside its master key, in the data directory that also holds the JWT secret.
 */
function auditCheckpoints(): Sink[] {
  const directory = join(dirname(inject('jwtSecretFile')), 'audit-checkpoints');
  return readdirSync(directory).map((name) => ({
    where: `audit checkpoint ${name}`,
    bytes: readFileSync(join(directory, name)),
  }));
}

/**
 * The claim check's payloads the stack keeps outside its database (PAYLOAD_STORE=directory, its
 * default): every file under the payloads directory beside its master key. A succeeded run's are
 * purged by Publish; a failed run's (this stack's other tests) stay for re-drive.
 */
function payloadFiles(): { readonly directory: string; readonly sinks: Sink[] } {
  const directory = join(dirname(inject('jwtSecretFile')), 'payloads');
  const sinks = readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const path = join(entry.parentPath, entry.name);
      return {
        where: `payload file ${path.slice(directory.length + 1)}`,
        bytes: readFileSync(path),
      };
    });
  return { directory, sinks };
}

async function pipelineEvents(): Promise<Sink[]> {
  const client = observerClient();
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; run_id: string; event: string }>(
      'SELECT id::text, run_id::text, e::text AS event FROM pipeline_events e ORDER BY id',
    );
    return rows.map((row) => ({
      where: `pipeline_events id ${row.id} (run ${row.run_id})`,
      bytes: Buffer.from(row.event),
    }));
  } finally {
    await client.end();
  }
}

function stepFunctions(): SFNClient {
  return new SFNClient({
    endpoint: inject('stepFunctionsEndpoint'),
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** Every execution's input and output, and every state's input and output in its history. */
async function executionData(client: SFNClient): Promise<Sink[]> {
  const executions: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListExecutionsCommand({
        stateMachineArn: inject('stateMachineArn'),
        ...(nextToken === undefined ? {} : { nextToken }),
      }),
    );
    executions.push(...(page.executions ?? []));
    nextToken = page.nextToken;
  } while (nextToken !== undefined);

  const perExecution = await mapConcurrently(executions, 16, async ({ executionArn, name }) => {
    const described = await client.send(new DescribeExecutionCommand({ executionArn }));
    const events: HistoryEvent[] = [];
    let historyToken: string | undefined;
    do {
      const page = await client.send(
        new GetExecutionHistoryCommand({
          executionArn,
          includeExecutionData: true,
          ...(historyToken === undefined ? {} : { nextToken: historyToken }),
        }),
      );
      events.push(...(page.events ?? []));
      historyToken = page.nextToken;
    } while (historyToken !== undefined);
    return [
      {
        where: `execution ${name} (DescribeExecution input/output)`,
        bytes: Buffer.from(JSON.stringify([described.input, described.output, described.cause])),
      },
      ...events.map((event) => ({
        where: `execution ${name} history event ${event.id} ${event.type}`,
        bytes: Buffer.from(JSON.stringify(event)),
      })),
    ];
  });
  return perExecution.flat();
}

async function executionEnded(client: SFNClient, runId: string): Promise<string | undefined> {
  const executionArn = `${inject('stateMachineArn').replace(':stateMachine:', ':execution:')}:${runId}`;
  for (let polls = 0; polls < 300; polls += 1) {
    const { status } = await client.send(new DescribeExecutionCommand({ executionArn }));
    if (status !== 'RUNNING') return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

/** The canaries among `labels` of a record, plain (not their base64 forms). */
function plainHits(response: ApiResponse, record: string): string[] {
  return PLAIN_CANARIES.filter(
    ({ label, bytes }) =>
      label.startsWith(`${record}.`) && Buffer.from(response.text).includes(bytes),
  ).map(({ label }) => label);
}

function labelsOf(record: string, values: object): string[] {
  return Object.keys(values).map((field) => `${record}.${field}`);
}

describe('the canary sweep: planted PHI appears nowhere but in the authorised read', () => {
  it('no canary in the stack log, the execution histories, the events, the responses, the database dump or the audit checkpoints', {
    timeout: 240_000,
  }, async () => {
    // Prepare
    const writer = await token(['system/Patient.c']);
    const reader = await token(['user/Patient.r']);
    const fhirReader = await token(['user/Patient.r', 'user/*.rs']);
    const consentWriter = await token(['user/Consent.u']);
    const auditor = await token(['system/AuditEvent.r']);
    const sfn = stepFunctions();
    const responses: Sink[] = [];
    /** Every response but the authorised patient reads goes into the sweep. */
    const observed = async (
      label: string,
      method: string,
      path: string,
      options: Parameters<typeof call>[2],
    ): Promise<ApiResponse> => {
      const response = await call(method, path, options);
      const headers = JSON.stringify([...response.headers.entries()]);
      responses.push({
        where: `response to ${label} (${response.status})`,
        bytes: Buffer.from(`${headers}\n${response.text}`),
      });
      return response;
    };
    /** Polled here rather than with waitForRun, so that these responses are swept too. */
    const followRun = async (runId: string): Promise<ApiResponse> => {
      const pollRun = () =>
        observed('GET /api/v1/runs/{runId}', 'GET', `/api/v1/runs/${runId}`, { token: writer });
      let run = await pollRun();
      for (
        let polls = 1;
        !['succeeded', 'failed'].includes(run.json.status) && polls < 240;
        polls += 1
      ) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        run = await pollRun();
      }
      return run;
    };
    const records = [
      { resourceType: 'Patient', ...CONSENTED, gender: 'other', consent: { data_sharing: true } },
      { resourceType: 'Patient', ...INVALID, gender: 'female', consent: { data_sharing: true } },
      { resourceType: 'Patient', ...REFUSED, gender: 'male', consent: { data_sharing: false } },
    ];

    // Act: ingest flat records and a FHIR Bundle through the API, and follow each run to its end
    const accepted = await observed('POST /api/v1/ingest', 'POST', '/api/v1/ingest', {
      token: writer,
      body: JSON.stringify({ records }),
      headers: { 'content-type': 'application/json' },
    });
    const runId: string = accepted.json.runId;
    const run = await followRun(runId);
    const executionStatus = await executionEnded(sfn, runId);
    const rejections = await observed(
      'GET /api/v1/runs/{runId}/rejections',
      'GET',
      `/api/v1/runs/${runId}/rejections`,
      { token: writer },
    );
    const fhirAccepted = await observed('POST /api/v1/ingest (FHIR)', 'POST', '/api/v1/ingest', {
      token: writer,
      body: fhirBatch(),
      headers: { 'content-type': 'application/fhir+json' },
    });
    const fhirRunId: string = fhirAccepted.json.runId;
    const fhirRun = await followRun(fhirRunId);
    const fhirExecutionStatus = await executionEnded(sfn, fhirRunId);
    const fhirRejections = await observed(
      'GET /api/v1/runs/{runId}/rejections (FHIR)',
      'GET',
      `/api/v1/runs/${fhirRunId}/rejections`,
      { token: writer },
    );
    const laterAccepted = await observed('POST /api/v1/ingest (NDJSON)', 'POST', '/api/v1/ingest', {
      token: writer,
      body: laterBatch(),
      headers: { 'content-type': 'application/fhir+ndjson' },
    });
    const laterRunId: string = laterAccepted.json.runId;
    const laterRun = await followRun(laterRunId);
    const laterRejections = await observed(
      'GET /api/v1/runs/{runId}/rejections (NDJSON)',
      'GET',
      `/api/v1/runs/${laterRunId}/rejections`,
      { token: writer },
    );

    // Act: the authorised reads, the only responses allowed to carry PHI
    const byMrn = await call('GET', `/api/v1/patients?mrn=${encodeURIComponent(CONSENTED.mrn)}`, {
      token: reader,
    });
    const patientId: string = byMrn.json.data[0].id;
    const byId = await call('GET', `/api/v1/patients/${patientId}`, { token: reader });
    const fhirByMrn = await call(
      'GET',
      `/api/v1/patients?mrn=${encodeURIComponent(FHIR_CONSENTED.mrn)}`,
      { token: reader },
    );
    const fhirPatientId: string = fhirByMrn.json.data[0].id;
    const everything = await call('GET', `/fhir/r4/Patient/${fhirPatientId}/$everything`, {
      token: fhirReader,
    });
    const conditions = await call('GET', `/fhir/r4/Condition?patient=${fhirPatientId}`, {
      token: fhirReader,
    });
    const everythingResources = ((everything.json?.entry ?? []) as { resource: FhirJson }[]).map(
      ({ resource }) => resource,
    );
    const idOf = (type: string) =>
      everythingResources.find(({ resourceType }) => resourceType === type)?.id ?? 'none';
    const practitioner = await call('GET', `/fhir/r4/Practitioner/${idOf('Practitioner')}`, {
      token: fhirReader,
    });

    // Act: every other endpoint, with the same ids
    const unknownMrns = await Promise.all(
      [INVALID.mrn, REFUSED.mrn, FHIR_REFUSED.mrn, FHIR_ABSENT.mrn].map((mrn) =>
        observed(
          'GET /api/v1/patients?mrn= (not stored)',
          'GET',
          `/api/v1/patients?mrn=${encodeURIComponent(mrn)}`,
          {
            token: reader,
          },
        ),
      ),
    );
    const redrive = await observed(
      'POST /api/v1/runs/{runId}/redrive',
      'POST',
      `/api/v1/runs/${runId}/redrive`,
      { token: writer },
    );
    const audit = await observed(
      'GET /api/v1/audit?patient=',
      'GET',
      `/api/v1/audit?patient=${patientId}`,
      { token: auditor },
    );
    const fhirAudit = await observed(
      'GET /api/v1/audit?patient= (FHIR)',
      'GET',
      `/api/v1/audit?patient=${fhirPatientId}`,
      { token: auditor },
    );
    const verify = await observed('GET /api/v1/audit/verify', 'GET', '/api/v1/audit/verify', {
      token: auditor,
    });
    const revokes = await Promise.all(
      [patientId, fhirPatientId].map((id) =>
        observed('PUT /api/v1/patients/{id}/consent', 'PUT', `/api/v1/patients/${id}/consent`, {
          token: consentWriter,
          body: JSON.stringify({ data_sharing: false, source: 'canary-sweep' }),
          headers: { 'content-type': 'application/json' },
        }),
      ),
    );
    const deniedById = await observed(
      'GET /api/v1/patients/{id} (revoked)',
      'GET',
      `/api/v1/patients/${patientId}`,
      { token: reader },
    );
    const deniedByMrn = await observed(
      'GET /api/v1/patients?mrn= (revoked)',
      'GET',
      `/api/v1/patients?mrn=${encodeURIComponent(CONSENTED.mrn)}`,
      { token: reader },
    );
    const deniedFhir = await Promise.all([
      observed(
        'GET /fhir/r4/Patient/{id}/$everything (revoked)',
        'GET',
        `/fhir/r4/Patient/${fhirPatientId}/$everything`,
        { token: fhirReader },
      ),
      observed(
        'GET /fhir/r4/Condition?patient= (revoked)',
        'GET',
        `/fhir/r4/Condition?patient=${fhirPatientId}`,
        { token: fhirReader },
      ),
      observed(
        'GET /fhir/r4/DocumentReference/{id} (revoked)',
        'GET',
        `/fhir/r4/DocumentReference/${idOf('DocumentReference')}`,
        { token: fhirReader },
      ),
    ]);
    const storedBy = (id: string) =>
      query<{ type: string; patient: string | null }>(
        `SELECT resource_type AS type, patient_id::text AS patient FROM fhir_resources
         WHERE created_run_id = $1 ORDER BY resource_type`,
        [id],
      );
    const storedByFhirRun = await storedBy(fhirRunId);
    const storedByLaterRun = await storedBy(laterRunId);
    const denials = await query<{ run: string; count: number }>(
      `SELECT run_id::text AS run, count(*)::int AS count FROM audit_log
       WHERE run_id = ANY($1::uuid[]) AND action = 'DENY' GROUP BY run_id`,
      [[fhirRunId, laterRunId]],
    );

    // Act: gather every sink, the stack's own output last so it holds everything above
    const events = await pipelineEvents();
    const executions = await executionData(sfn);
    const dump = await databaseDump();
    const checkpoints = auditCheckpoints();
    const payloads = payloadFiles();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const log = readFileSync(inject('stackLogFile'));
    const hits = [
      ...hitsInLog(log),
      ...executions.flatMap(hitsIn),
      ...events.flatMap(hitsIn),
      ...responses.flatMap(hitsIn),
      ...dump.flatMap(hitsIn),
      ...checkpoints.flatMap(hitsIn),
      ...payloads.sinks.flatMap(hitsIn),
    ];

    // Assess: the flow did what the sweep assumes
    expect(accepted.status).toBe(202);
    expect(run.json).toMatchObject({
      status: 'succeeded',
      counts: { received: 3, loaded: 1, rejected: 2 },
    });
    expect(executionStatus).toBe('SUCCEEDED');
    // Every run's end checkpointed the audit chain: the sweep read real checkpoints.
    expect(checkpoints.length).toBeGreaterThan(0);
    // The runs' payloads went through the directory (readdirSync threw otherwise), and Publish
    // purged those of the runs above with their run's directory.
    for (const purged of [runId, fhirRunId, laterRunId]) {
      expect(existsSync(join(payloads.directory, purged)), purged).toBe(false);
    }
    expect(rejections.json.data).toEqual([
      expect.objectContaining({ recordIndex: 1, reason: 'schema' }),
      expect.objectContaining({ recordIndex: 2, reason: 'consent' }),
    ]);
    expect(fhirAccepted.status).toBe(202);
    // The clinician, then three compartments of four, a Consent after the first two.
    expect(fhirRun.json).toMatchObject({
      status: 'succeeded',
      counts: {
        received: 15,
        loaded: 1,
        rejected: 8,
        resourcesLoaded: 4,
        'Practitioner.created': 1,
        'Condition.created': 1,
        'DocumentReference.created': 1,
        'Encounter.created': 1,
      },
    });
    expect(fhirExecutionStatus).toBe('SUCCEEDED');
    const refusedAt = (first: number, consent: string) =>
      [first, first + 1, first + 2, first + 3].map((recordIndex) =>
        expect.objectContaining({
          recordIndex,
          reason: 'consent',
          details: expect.objectContaining({ consent }),
        }),
      );
    expect(fhirRejections.json.data).toEqual([
      ...refusedAt(6, 'refused'),
      ...refusedAt(11, 'absent'),
    ]);
    expect(laterAccepted.status).toBe(202);
    expect(laterRun.json).toMatchObject({
      status: 'succeeded',
      counts: { received: 3, rejected: 2, resourcesLoaded: 1, 'Condition.created': 1 },
    });
    // Stopped for their patient's consent, not orphans: the consent stage remembered them.
    expect(laterRejections.json.data).toEqual([
      expect.objectContaining({
        recordIndex: 0,
        reason: 'consent',
        details: expect.objectContaining({ consent: 'refused' }),
      }),
      expect.objectContaining({
        recordIndex: 1,
        reason: 'consent',
        details: expect.objectContaining({ consent: 'absent' }),
      }),
    ]);
    expect(Object.fromEntries(denials.map(({ run, count }) => [run, count]))).toEqual({
      [fhirRunId]: 8,
      [laterRunId]: 2,
    });
    expect(storedByLaterRun).toEqual([{ type: 'Condition', patient: fhirPatientId }]);
    expect(storedByFhirRun).toEqual([
      { type: 'Condition', patient: fhirPatientId },
      { type: 'DocumentReference', patient: fhirPatientId },
      { type: 'Encounter', patient: fhirPatientId },
      { type: 'Practitioner', patient: null },
    ]);
    expect(byId.status).toBe(200);
    expect(byId.json).toMatchObject({ id: patientId, ...CONSENTED, gender: 'other' });
    // The search itself finds a canary where one is expected.
    expect(hitsIn({ where: 'authorised read', bytes: Buffer.from(byId.text) })).toHaveLength(4);
    // The consented patient's compartment reads back whole, the clinician with it; no one else's.
    expect(everything.status).toBe(200);
    expect(everythingResources.map(({ resourceType }) => resourceType).sort()).toEqual([
      'Condition',
      'Condition',
      'DocumentReference',
      'Encounter',
      'Patient',
      'Practitioner',
    ]);
    // The attachment's text comes back as it was sent: inside its base64.
    expect(plainHits(everything, 'fhirConsented').sort()).toEqual(
      labelsOf('fhirConsented', FHIR_CONSENTED)
        .filter((label) => label !== 'fhirConsented.attachmentText')
        .sort(),
    );
    const document = everythingResources.find(
      ({ resourceType }) => resourceType === 'DocumentReference',
    ) as { content?: { attachment: { data: string } }[] } | undefined;
    expect(
      Buffer.from(document?.content?.[0]?.attachment.data ?? '', 'base64').toString(),
    ).toContain(FHIR_CONSENTED.attachmentText);
    expect(plainHits(everything, 'practitioner').sort()).toEqual(
      labelsOf('practitioner', STAFF).sort(),
    );
    expect([
      ...plainHits(everything, 'fhirRefused'),
      ...plainHits(everything, 'fhirAbsent'),
    ]).toEqual([]);
    expect(conditions.status).toBe(200);
    expect(conditions.json).toMatchObject({ resourceType: 'Bundle', total: 2 });
    expect(plainHits(conditions, 'fhirConsented')).toEqual([
      'fhirConsented.conditionNote',
      'fhirConsented.laterNote',
    ]);
    expect(practitioner.status).toBe(200);
    expect(plainHits(practitioner, 'practitioner').sort()).toEqual(
      labelsOf('practitioner', STAFF).sort(),
    );
    expect(unknownMrns.map((response) => response.json)).toEqual(
      unknownMrns.map(() => ({ data: [] })),
    );
    expect(redrive.status).toBe(409);
    expect(audit.status).toBe(200);
    expect(audit.json.data.length).toBeGreaterThan(0);
    expect(fhirAudit.json.data.length).toBeGreaterThan(0);
    expect(verify.json.valid).toBe(true);
    expect(revokes.map((response) => response.status)).toEqual([200, 200]);
    expect(deniedById.status).toBe(403);
    // Refused, the MRN answers as one not on file would: no existence oracle.
    expect(deniedByMrn.status).toBe(200);
    expect(deniedByMrn.json).toEqual({ data: [] });
    expect(deniedFhir.map((response) => response.status)).toEqual([403, 403, 403]);
    expect(events.some((event) => event.where.includes(runId))).toBe(true);
    expect(executions.some((sink) => sink.where.startsWith(`execution ${runId} `))).toBe(true);
    expect(executions.some((sink) => sink.where.startsWith(`execution ${fhirRunId} `))).toBe(true);
    // The sweep reads the tables FHIR fills, and they hold the batch's rows.
    for (const table of [
      'patients',
      'fhir_resources',
      'resource_references',
      'withheld_patient_references',
    ]) {
      expect(
        dump.some((sink) => sink.where.startsWith(`table ${table} `)),
        table,
      ).toBe(true);
    }
    expect(log.length).toBeGreaterThan(0);

    // Assess: zero hits is the only pass
    expect(hits, `canary PHI found outside the authorised reads:\n${hits.join('\n')}`).toEqual([]);
  });
});
