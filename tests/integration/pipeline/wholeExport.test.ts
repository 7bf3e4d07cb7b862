/**
 * The whole 10-patient Synthea Bulk Data export through the real pipeline: every type stored
 * with its consented patient, or rejected with its patient, shared resources stored, nothing
 * skipped; sent again, nothing changes; a changed Condition is updated.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { decryptFieldText } from '../../../lib/crypto/fieldCipher.ts';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listRejections, type RejectionRow } from '../../../lib/db/repositories/rejections.ts';
import { ForbiddenError } from '../../../lib/errors.ts';
import { descriptorOf } from '../../../lib/fhir/r4/descriptors.ts';
import { parseReference } from '../../../lib/fhir/r4/references.ts';
import type { FhirJson } from '../../../lib/fhir/r4/resources.ts';
import { encodeCursor } from '../../../lib/fhir/r4/search.ts';
import { NDJSON_MEDIA_TYPE } from '../../../lib/mediaTypes.ts';
import { changeConsent } from '../../../lib/patients/consentChanges.ts';
import {
  type FhirReader,
  readFhirResource,
  readPatientEverything,
  searchFhirResources,
} from '../../../lib/patients/fhirAccess.ts';
import { patientIdentity } from '../../../lib/pipeline/patientIdentity.ts';
import { resourceIdOf } from '../../../lib/pipeline/resourceIdentity.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { consentFor, EXPORT_10, mrnOf, ndjson } from '../../helpers/fhir.ts';
import { useTestPipeline } from '../../helpers/pipeline.ts';

const ACTOR = 'system:export-10';
const BATCH_RECORDS = 500;
const BATCH_BYTES = 4 * 1024 * 1024;

interface ExportFile {
  readonly type: string;
  readonly resources: readonly FhirJson[];
}

function exportFiles(): ExportFile[] {
  return readdirSync(EXPORT_10)
    .filter((name) => name.endsWith('.ndjson'))
    .map((name) => ({
      type: name.split('.')[0] as string,
      resources: readFileSync(new URL(name, EXPORT_10), 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as FhirJson),
    }));
}

/** Patient, then the types no patient owns, then the rest: what names a resource finds it stored. */
function loadOrder(files: readonly ExportFile[]): ExportFile[] {
  const rank = ({ type }: ExportFile) =>
    type === 'Patient' ? 0 : descriptorOf(type)?.kind === 'shared' ? 1 : 2;
  return files.toSorted((a, b) => rank(a) - rank(b) || (a.type < b.type ? -1 : 1));
}

/** NDJSON bodies of at most BATCH_RECORDS records and BATCH_BYTES bytes. */
function batchesOf(resources: readonly FhirJson[]): FhirJson[][] {
  const batches: FhirJson[][] = [];
  let current: FhirJson[] = [];
  let bytes = 0;
  for (const resource of resources) {
    const size = Buffer.byteLength(JSON.stringify(resource)) + 1;
    if (current.length >= BATCH_RECORDS || (current.length > 0 && bytes + size > BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(resource);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** The sender's id of the first patient a resource names, from `Patient/<id>`. */
function patientOf(resource: FhirJson): string | undefined {
  const descriptor = descriptorOf(String(resource['resourceType']));
  for (const path of descriptor?.patientPaths ?? []) {
    let values: unknown[] = [resource];
    for (const name of path.split('.')) {
      values = values.flatMap((value) => {
        const child = (value as Record<string, unknown> | undefined)?.[name];
        return child === undefined ? [] : Array.isArray(child) ? child : [child];
      });
    }
    for (const value of values) {
      const reference = (value as { reference?: unknown }).reference;
      const match = typeof reference === 'string' ? /^Patient\/(.+)$/.exec(reference) : null;
      if (match !== null) return match[1];
    }
  }
  return undefined;
}

/**
 * A resource as compared with what was sent: our id and lastUpdated aside, and each reference
 * reduced to the type it names (a rewritten one names ours, by the same type).
 */
function comparable(value: unknown, top = true): unknown {
  if (Array.isArray(value)) return value.map((item) => comparable(item, false));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(value)) {
    if (top && name === 'id') continue;
    if (top && name === 'meta') {
      const { lastUpdated: _ours, versionId: _theirs, ...kept } = child as Record<string, unknown>;
      if (Object.keys(kept).length > 0) out[name] = kept;
      continue;
    }
    if (name === 'reference' && typeof child === 'string') {
      const parsed = parseReference(child);
      out[name] = parsed !== undefined && 'resourceType' in parsed ? parsed.resourceType : child;
      continue;
    }
    out[name] = comparable(child, false);
  }
  return out;
}

interface Loaded {
  readonly runIds: string[];
  readonly rejections: RejectionRow[];
  readonly counts: Record<string, number>;
}

describe('the whole 10-patient Synthea export through the real pipeline', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);
  const files = loadOrder(exportFiles());
  const patients = files.find(({ type }) => type === 'Patient')?.resources ?? [];
  // A fixed subset consents: every other patient in id order.
  const permitted = new Set(
    patients
      .map((patient) => String(patient['id']))
      .sort()
      .filter((_, at) => at % 2 === 0),
  );
  const patientData = files.filter(({ type }) => descriptorOf(type)?.kind === 'patient-data');
  const shared = files.filter(({ type }) => descriptorOf(type)?.kind === 'shared');

  async function loadAll(input: readonly ExportFile[]): Promise<Loaded> {
    const runIds: string[] = [];
    const rejections: RejectionRow[] = [];
    const counts: Record<string, number> = {};
    for (const file of input) {
      for (const batch of batchesOf(file.resources)) {
        const { runId, execution } = await pipeline.ingestBody(
          ndjson(batch),
          NDJSON_MEDIA_TYPE,
          ACTOR,
        );
        expect(execution.status).toBe('SUCCEEDED');
        const run = await findIngestRun(database.pool, runId);
        expect(run?.status).toBe('succeeded');
        for (const [name, value] of Object.entries(run?.counts ?? {})) {
          counts[name] = (counts[name] ?? 0) + value;
        }
        runIds.push(runId);
        rejections.push(...(await listRejections(database.pool, runId)));
      }
    }
    return { runIds, rejections, counts };
  }

  async function ourId(resourceType: string, id: string): Promise<string> {
    const indexKey = await pipeline.deps.keyring.blindIndexKeyObject(database.pool);
    return resourceIdOf(indexKey, ACTOR, `${resourceType}/${id}`);
  }

  async function storedRows(): Promise<Map<string, { type: string; patient: string | null }>> {
    const { rows } = await database.pool.query<{
      id: string;
      resource_type: string;
      patient_id: string | null;
    }>('SELECT id, resource_type, patient_id FROM fhir_resources');
    return new Map(
      rows.map((row) => [row.id, { type: row.resource_type, patient: row.patient_id }]),
    );
  }

  let first: Loaded;

  beforeAll(async () => {
    const consents = [...permitted].map((id) => consentFor(`Patient/${id}`));
    const given = await pipeline.ingestBody(ndjson(consents), NDJSON_MEDIA_TYPE, ACTOR);
    expect(given.execution.status).toBe('SUCCEEDED');
    first = await loadAll(files);
  }, 600_000);

  it('skips nothing: every record is stored or rejected for its patient', () => {
    expect(first.rejections.filter(({ reason }) => reason === 'unsupported-type')).toEqual([]);
    expect(first.rejections.filter(({ reason }) => reason === 'schema')).toEqual([]);
    expect(new Set(first.rejections.map(({ reason }) => reason))).toEqual(new Set(['consent']));
  });

  it('stores every patient-data resource of a consented patient exactly as sent, under its patient', async () => {
    const rows = await storedRows();
    const { rows: sealed } = await database.pool.query<{
      id: string;
      source_enc: Buffer;
      data_key_id: string;
    }>('SELECT id, source_enc, data_key_id FROM fhir_resources');
    const sourceOf = new Map(sealed.map((row) => [row.id, row]));
    let compared = 0;
    for (const file of patientData) {
      for (const resource of file.resources) {
        const patient = patientOf(resource);
        if (patient === undefined || !permitted.has(patient)) continue;
        const id = await ourId(file.type, String(resource['id']));
        expect(rows.get(id), `${file.type}/${resource['id']}`).toMatchObject({ type: file.type });
        expect(rows.get(id)?.patient).not.toBeNull();
        const row = sourceOf.get(id);
        if (row === undefined) throw new Error(`${file.type}/${resource['id']} is not stored`);
        const key = await pipeline.deps.keyring.rowKey(database.pool, row.data_key_id);
        const text = decryptFieldText(key, row.source_enc, {
          table: 'fhir_resources',
          column: 'source_enc',
          rowId: id,
        });
        key.fill(0);
        expect(JSON.parse(text)).toEqual(resource);
        compared += 1;
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it('rejects every resource of a patient without consent with `consent`, and stores none of them', async () => {
    const rows = await storedRows();
    const withheld = patientData.flatMap(({ type, resources }) =>
      resources
        .filter((resource) => !permitted.has(patientOf(resource) ?? ''))
        .map((resource) => ({ type, id: String(resource['id']) })),
    );
    expect(withheld.length).toBeGreaterThan(100);
    for (const { type, id } of withheld) {
      expect(rows.has(await ourId(type, id)), `${type}/${id}`).toBe(false);
    }
    const blocked = first.rejections.filter(({ reason }) => reason === 'consent');
    expect(blocked).toHaveLength(withheld.length + (patients.length - permitted.size));
    const patientIds = new Set([...rows.values()].map(({ patient }) => patient));
    expect(patientIds.size).toBe(permitted.size + 1); // null: the shared resources
  });

  it('stores the shared resources, Practitioner, Organization, Location, PractitionerRole', async () => {
    expect(shared.map(({ type }) => type).sort()).toEqual([
      'Location',
      'Organization',
      'Practitioner',
      'PractitionerRole',
    ]);
    const rows = await storedRows();
    for (const file of shared) {
      expect(first.counts[`${file.type}.created`], file.type).toBe(file.resources.length);
      for (const resource of file.resources) {
        const row = rows.get(await ourId(file.type, String(resource['id'])));
        expect(row).toEqual({ type: file.type, patient: null });
      }
    }
  });

  const READER: FhirReader = {
    subject: 'user:export-reader',
    scopes: ['user/Patient.r', 'user/*.rs'],
  };

  async function ourPatientId(senderId: string): Promise<string> {
    const patient = patients.find((candidate) => candidate['id'] === senderId);
    if (patient === undefined) throw new Error(`no Patient/${senderId}`);
    const indexKey = await pipeline.deps.keyring.blindIndexKeyObject(database.pool);
    return patientIdentity(indexKey, mrnOf(patient as Parameters<typeof mrnOf>[0])).id;
  }

  it('reads back every resource of a consented patient, type by type, field-equal with what was sent', async () => {
    let compared = 0;
    for (const senderId of permitted) {
      const patientId = await ourPatientId(senderId);
      for (const file of patientData) {
        const sent = file.resources.filter((resource) => patientOf(resource) === senderId);
        const read: FhirJson[] = [];
        let cursor: string | undefined;
        do {
          const page = await searchFhirResources(pipeline.deps, READER, file.type, {
            patient: patientId,
            _count: '1000',
            ...(cursor === undefined ? {} : { _cursor: cursor }),
          });
          expect(page.total, `${file.type} of Patient/${senderId}`).toBe(sent.length);
          read.push(...page.resources);
          cursor = page.next === null ? undefined : encodeCursor(page.next);
        } while (cursor !== undefined);
        const byId = new Map(read.map((resource) => [resource['id'], resource]));
        expect(byId.size).toBe(sent.length);
        for (const resource of sent) {
          const read = byId.get(await ourId(file.type, String(resource['id'])));
          expect(read, `${file.type}/${resource['id']}`).toBeDefined();
          expect(comparable(read)).toEqual(comparable(resource));
          compared += 1;
        }
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it('rewrites an Encounter’s conditional Practitioner reference and a Condition’s Encounter reference to our ids', async () => {
    const practitioners = shared.find(({ type }) => type === 'Practitioner')?.resources ?? [];
    const encounters = files.find(({ type }) => type === 'Encounter')?.resources ?? [];
    const encounter = encounters.find((resource) => permitted.has(patientOf(resource) ?? ''));
    if (encounter === undefined) throw new Error('no Encounter of a consented patient');
    const sentIndividual = (encounter['participant'] as { individual: { reference: string } }[])[0]
      ?.individual.reference;
    expect(sentIndividual).toMatch(
      /^Practitioner\?identifier=http:\/\/hl7.org\/fhir\/sid\/us-npi\|/,
    );
    const npi = sentIndividual?.split('|')[1];
    const practitioner = practitioners.find((candidate) =>
      (candidate['identifier'] as { value: string }[]).some(({ value }) => value === npi),
    );
    if (practitioner === undefined) throw new Error('no Practitioner with that NPI');

    const readEncounter = await readFhirResource(
      pipeline.deps,
      READER,
      'Encounter',
      await ourId('Encounter', String(encounter['id'])),
    );
    expect(
      (readEncounter['participant'] as { individual: { reference: string } }[])[0]?.individual,
    ).toMatchObject({
      reference: `Practitioner/${await ourId('Practitioner', String(practitioner['id']))}`,
    });
    const readPractitioner = await readFhirResource(
      pipeline.deps,
      READER,
      'Practitioner',
      await ourId('Practitioner', String(practitioner['id'])),
    );
    expect(comparable(readPractitioner)).toEqual(comparable(practitioner));

    const conditions = files.find(({ type }) => type === 'Condition')?.resources ?? [];
    const condition = conditions.find((resource) => permitted.has(patientOf(resource) ?? ''));
    if (condition === undefined) throw new Error('no Condition of a consented patient');
    const sentEncounter = (condition['encounter'] as { reference: string }).reference;
    const readCondition = await readFhirResource(
      pipeline.deps,
      READER,
      'Condition',
      await ourId('Condition', String(condition['id'])),
    );
    expect(readCondition['encounter']).toEqual({
      reference: `Encounter/${await ourId('Encounter', sentEncounter.replace('Encounter/', ''))}`,
    });
    expect(readCondition['subject']).toEqual({
      reference: `Patient/${await ourPatientId(patientOf(condition) ?? '')}`,
    });
  });

  it('sent again: every resource unchanged, nothing duplicated; a changed Condition is updated', async () => {
    const before = await storedRows();
    const again = await loadAll(files);
    const after = await storedRows();
    expect(after.size).toBe(before.size);
    for (const file of [...patientData, ...shared]) {
      expect(again.counts[`${file.type}.created`] ?? 0, file.type).toBe(0);
      expect(again.counts[`${file.type}.updated`] ?? 0, file.type).toBe(0);
      expect(again.counts[`${file.type}.unchanged`] ?? 0, file.type).toBe(
        first.counts[`${file.type}.created`] ?? 0,
      );
    }

    const conditions = files.find(({ type }) => type === 'Condition')?.resources ?? [];
    const condition = conditions.find((resource) => permitted.has(patientOf(resource) ?? ''));
    if (condition === undefined) throw new Error('no Condition of a consented patient');
    const changed = { ...condition, abatementDateTime: '2026-01-02T03:04:05Z' };
    const { runId } = await pipeline.ingestBody(ndjson([changed]), NDJSON_MEDIA_TYPE, ACTOR);
    const run = await findIngestRun(database.pool, runId);
    expect(run?.counts).toMatchObject({ 'Condition.updated': 1 });
    expect((await storedRows()).size).toBe(before.size);
  }, 600_000);

  it('keeps another sender’s resource with the same type and id apart', async () => {
    const practitioner = shared.find(({ type }) => type === 'Practitioner')?.resources[0];
    if (practitioner === undefined) throw new Error('no Practitioner');
    const before = await storedRows();
    const { runId } = await pipeline.ingestBody(
      ndjson([practitioner]),
      NDJSON_MEDIA_TYPE,
      'system:another-sender',
    );
    const run = await findIngestRun(database.pool, runId);
    expect(run?.counts).toMatchObject({ 'Practitioner.created': 1 });
    const after = await storedRows();
    expect(after.size).toBe(before.size + 1);
    const indexKey = await pipeline.deps.keyring.blindIndexKeyObject(database.pool);
    const theirs = resourceIdOf(
      indexKey,
      'system:another-sender',
      `Practitioner/${practitioner['id']}`,
    );
    expect(theirs).not.toBe(await ourId('Practitioner', String(practitioner['id'])));
    expect(after.get(theirs)).toEqual({ type: 'Practitioner', patient: null });
  });
  it('after a revocation, every type’s read, search and $everything of that patient is 403 with a DENY row', async () => {
    const [senderId] = [...permitted].sort();
    if (senderId === undefined) throw new Error('no consented patient');
    const patientId = await ourPatientId(senderId);
    await changeConsent(pipeline.deps, 'user:export-steward', patientId, {
      data_sharing: false,
      source: 'patient-portal',
    });
    const actor = 'user:export-after-revocation';
    const reader: FhirReader = { ...READER, subject: actor };
    let attempts = 0;
    for (const file of patientData) {
      const resource = file.resources.find((candidate) => patientOf(candidate) === senderId);
      if (resource === undefined) continue;
      const id = await ourId(file.type, String(resource['id']));
      await expect(readFhirResource(pipeline.deps, reader, file.type, id)).rejects.toThrow(
        ForbiddenError,
      );
      await expect(
        searchFhirResources(pipeline.deps, reader, file.type, { patient: patientId }),
      ).rejects.toThrow(ForbiddenError);
      attempts += 2;
    }
    await expect(
      readPatientEverything(pipeline.deps, reader, patientId, { count: 100 }),
    ).rejects.toThrow(ForbiddenError);
    attempts += 1;
    expect(attempts).toBeGreaterThan(10);
    const { rows } = await database.pool.query<{ action: string; resource_id: string }>(
      'SELECT action, resource_id FROM audit_log WHERE actor = $1 ORDER BY seq',
      [actor],
    );
    expect(rows).toHaveLength(attempts);
    expect(rows.every((row) => row.action === 'DENY' && row.resource_id === patientId)).toBe(true);
  });
});
