/**
 * Migration 1764000008000 folds `observations` into `fhir_resources`: an Observation stored
 * before it is moved with its ciphertext as it was (sealed_as keeps its AAD's table), and
 * reads back through the FHIR reads; migrating down moves it back.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { encryptField } from '../../../lib/crypto/fieldCipher.ts';
import { MIGRATIONS_DIR } from '../../../lib/db/migrate.ts';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import {
  type FhirReader,
  readFhirResource,
  searchFhirResources,
} from '../../../lib/patients/fhirAccess.ts';
import { findPatientsByMrn } from '../../../lib/patients/patientAccess.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { flatRecord, useTestPipeline } from '../../helpers/pipeline.ts';

const MOVE = '1764000008000_fhir-resources';
const MR = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] };
const READER: FhirReader = {
  subject: 'user:migration-reader',
  scopes: ['user/Patient.r', 'user/*.rs'],
};

/** The migrations after MOVE: they go down before it and up after it. */
const LATER = readdirSync(MIGRATIONS_DIR)
  .filter((file) => file.endsWith('.sql'))
  .map((file) => file.replace(/\.sql$/, ''))
  .filter((name) => name > MOVE)
  .sort();

/** Down through MOVE (the later ones first) or up from it to the newest: the names it ran, in order. */
async function migrateAcross(url: string, direction: 'up' | 'down'): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const done = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction,
      migrationsTable: 'pgmigrations',
      count: LATER.length + 1,
      singleTransaction: true,
      checkOrder: true,
      log: () => undefined,
    });
    return done.map((migration) => migration.name);
  } finally {
    await client.end();
  }
}

describe('migration 1764000008000: observations into fhir_resources', () => {
  const database = useTestDatabase();
  const pipeline = useTestPipeline(database);

  it('moves an Observation stored before it, which then reads back as sent; down moves it back', async () => {
    // Prepare: a consented patient, then the schema as it was, and an Observation as it was stored.
    const { runId } = await pipeline.ingest([flatRecord({ mrn: 'MRN-MOVED-OBS' })]);
    const run = await findIngestRun(database.pool, runId);
    const [patient] = await findPatientsByMrn(pipeline.deps, 'system:test', 'MRN-MOVED-OBS');
    if (run === undefined || patient === undefined) throw new Error('the patient did not load');
    expect(await migrateAcross(database.url, 'down')).toEqual([...LATER].reverse().concat(MOVE));
    const observation = {
      resourceType: 'Observation',
      id: 'obs-before-the-move',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { identifier: { value: 'MRN-MOVED-OBS' } },
      effectiveDateTime: '2025-05-06T07:08:09Z',
      valueQuantity: { value: 72, unit: '/min' },
    };
    const id = randomUUID();
    const key = await pipeline.deps.keyring.rowKey(database.pool, run.dataKeyId);
    const sourceEnc = encryptField(key, JSON.stringify(observation), {
      table: 'observations',
      column: 'source_enc',
      rowId: id,
    });
    key.fill(0);
    await database.pool.query(
      `INSERT INTO observations (id, patient_id, category, code_system, code, effective_at, status,
         source_enc, record_digest, data_key_id, created_run_id, updated_run_id)
       VALUES ($1, $2, NULL, 'http://loinc.org', '8867-4', $3, 'final', $4, $5, $6, $7, $7)`,
      [
        id,
        patient.id,
        new Date('2025-05-06T07:08:09Z'),
        sourceEnc,
        Buffer.alloc(32),
        run.dataKeyId,
        runId,
      ],
    );

    // Act
    const up = await migrateAcross(database.url, 'up');
    const { rows } = await database.pool.query<{ sealed_as: string; resource_type: string }>(
      'SELECT sealed_as, resource_type FROM fhir_resources WHERE id = $1',
      [id],
    );
    const read = await readFhirResource(pipeline.deps, READER, 'Observation', id);
    const page = await searchFhirResources(pipeline.deps, READER, 'Observation', {
      patient: patient.id,
    });

    // Assess
    expect(up).toEqual([MOVE, ...LATER]);
    expect(rows).toEqual([{ sealed_as: 'observations', resource_type: 'Observation' }]);
    expect(read).toMatchObject({
      resourceType: 'Observation',
      id,
      status: 'final',
      valueQuantity: { value: 72, unit: '/min' },
      effectiveDateTime: '2025-05-06T07:08:09Z',
    });
    expect(page.resources.map((resource) => resource['id'])).toEqual([id]);

    // Down again: the row is back in observations, as it was sealed. Not while any other resource
    // is stored: that would drop it.
    const { runId: conditionRun } = await pipeline.ingestBody(
      `${JSON.stringify({
        resourceType: 'Condition',
        id: 'kept',
        subject: { identifier: { type: MR, value: 'MRN-MOVED-OBS' } },
      })}\n`,
      'application/fhir+ndjson',
    );
    expect((await findIngestRun(database.pool, conditionRun))?.counts).toMatchObject({
      'Condition.created': 1,
    });
    await expect(migrateAcross(database.url, 'down')).rejects.toThrow(/would drop them/);
    await database.pool.query("DELETE FROM fhir_resources WHERE resource_type = 'Condition'");
    expect(await migrateAcross(database.url, 'down')).toEqual([...LATER].reverse().concat(MOVE));
    const { rows: back } = await database.pool.query<{ id: string; source_enc: Buffer }>(
      'SELECT id, source_enc FROM observations',
    );
    expect(back).toEqual([{ id, source_enc: sourceEnc }]);
    expect(await migrateAcross(database.url, 'up')).toEqual([MOVE, ...LATER]);
  });
});
