import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { OutcomeLine } from '../../cli/ingest/outcomes.ts';
import {
  consentFor,
  type FhirJson,
  ndjson,
  syntheaPath,
  syntheaResources,
} from '../helpers/fhir.ts';
import { query, token } from './api.ts';

const run = promisify(execFile);
const REPOSITORY = fileURLToPath(new URL('../../', import.meta.url));
/** Each scenario sends several batches and waits for each run in turn. */
const CLI_TIMEOUT_MS = 240_000;

interface Invocation {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node cli/ingest.ts` as `npm run ingest --` does, with only the environment it needs. */
async function ingestCli(args: readonly string[], bearer: string): Promise<Invocation> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['cli/ingest.ts', ...args], {
      cwd: REPOSITORY,
      env: { PATH: process.env['PATH'] ?? '', ETL_TOKEN: bearer },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

function readOutcomes(file: string): OutcomeLine[] {
  return readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as OutcomeLine);
}

/** A count row of the summary table, e.g. `rejected: consent   120`. */
function summaryCount(stdout: string, label: string): number | undefined {
  const escaped = label.replace(/[()]/g, '\\$&');
  const match = new RegExp(`^${escaped} +(\\d+)$`, 'm').exec(stdout);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** A resource type's row of the summary, by column: `{ received: 10, created: 5, … }`. */
function typeCounts(stdout: string, resourceType: string): Record<string, number> | undefined {
  const lines = stdout.split('\n');
  const header = lines.find((line) => line.startsWith('type '));
  const row = lines.find((line) => line.startsWith(`${resourceType} `));
  if (header === undefined || row === undefined) return undefined;
  const values = row.split(/ {2,}/).slice(1).map(Number);
  const columns = header.split(/ {2,}/).slice(1);
  return Object.fromEntries(columns.map((column, at) => [column, values[at] ?? Number.NaN]));
}

/** The summary without the rows that differ between two invocations on the same input. */
function stableSummary(stdout: string): string {
  return stdout
    .split('\n')
    .filter((line) => !/^(elapsed|batches sent now)\b/.test(line))
    .join('\n');
}

function runIdsOf(outcomes: readonly OutcomeLine[]): string[] {
  return [...new Set(outcomes.flatMap((line) => (line.runId === null ? [] : [line.runId])))];
}

async function runCount(): Promise<number> {
  const [row] = await query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_runs');
  return row?.n ?? 0;
}

/** What the database holds for these runs: statuses, rejections by reason, rows created. */
async function databaseView(runIds: readonly string[]) {
  const runs = await query<{ status: string; format: string; received: number }>(
    "SELECT status, format, (counts->>'received')::int AS received FROM ingest_runs WHERE id = ANY($1::uuid[])",
    [runIds],
  );
  const reasons = await query<{ reason: string; n: number }>(
    'SELECT reason, count(*)::int AS n FROM rejections WHERE run_id = ANY($1::uuid[]) GROUP BY reason ORDER BY reason',
    [runIds],
  );
  const [patients] = await query<{ n: number }>(
    'SELECT count(*)::int AS n FROM patients WHERE created_run_id = ANY($1::uuid[])',
    [runIds],
  );
  const [consents] = await query<{ n: number }>(
    'SELECT count(*)::int AS n FROM consents WHERE run_id = ANY($1::uuid[])',
    [runIds],
  );
  return {
    runs,
    received: runs.reduce((sum, row) => sum + row.received, 0),
    rejected: Object.fromEntries(reasons.map((row) => [row.reason, row.n])),
    patientsCreated: patients?.n ?? 0,
    consentsRecorded: consents?.n ?? 0,
  };
}

/** A Synthea patient under an id and MRN of this test's own, so no other test's rows count. */
function ownCopy(patient: FhirJson, tag: string): FhirJson {
  const identifiers = patient['identifier'] as {
    type?: { coding?: { code?: string }[] };
    value: string;
  }[];
  return {
    ...patient,
    id: `${patient.id}-${tag}`,
    identifier: identifiers.map((identifier) =>
      identifier.type?.coding?.some((coding) => coding.code === 'MR') === true
        ? { ...identifier, value: `${identifier.value}-${tag}` }
        : identifier,
    ),
  };
}

/**
 * Patient.100.ndjson in groups of three lines: a patient, a permit Consent for it, a patient
 * without one. With a batch size that is a multiple of 3, no Consent is parted from its patient.
 */
function consentedHalf(tag: string): { text: string; expected: [string, string | null][] } {
  const patients = syntheaResources('Patient.100.ndjson').map((patient) => ownCopy(patient, tag));
  const resources: FhirJson[] = [];
  const expected: [string, string | null][] = [];
  for (let at = 0; at + 1 < patients.length; at += 2) {
    const [consented, refused] = [patients[at]!, patients[at + 1]!];
    resources.push(
      consented,
      consentFor(`Patient/${consented.id}`, { id: `consent-${at}-${tag}` }),
      refused,
    );
    expected.push(['loaded', null], ['loaded', null], ['rejected', 'consent']);
  }
  return { text: ndjson(resources), expected };
}

describe('npm run ingest against the running stack', () => {
  let workDir: string;
  let batchSize: number;

  beforeAll(() => {
    workDir = mkdtempSync(join(tmpdir(), 'etl-ingest-cli-'));
    batchSize = inject('maxRecordsPerBatch');
  });

  afterAll(() => {
    rmSync(workDir, { recursive: true, force: true });
  });

  function paths(name: string) {
    return {
      stateDir: join(workDir, `${name}-state`),
      outcomes: join(workDir, `${name}.outcomes.ndjson`),
    };
  }

  it(
    'Patient.100.ndjson as it is: all 120 blocked for consent, the summary matching the database',
    async () => {
      // Prepare
      const { stateDir, outcomes } = paths('synthea');
      const bearer = await token(['system/Patient.c']);
      const fixture = syntheaResources('Patient.100.ndjson');

      // Act
      const result = await ingestCli(
        [
          syntheaPath('Patient.100.ndjson'),
          '--api',
          inject('apiUrl'),
          '--batch-size',
          String(batchSize),
          '--state-dir',
          stateDir,
          '--outcomes',
          outcomes,
        ],
        bearer,
      );

      // Assess
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const lines = readOutcomes(outcomes);
      expect(lines).toHaveLength(120);
      expect(lines.map((line) => [line.line, line.resourceType, line.resourceId])).toStrictEqual(
        fixture.map((patient, at) => [at + 1, 'Patient', patient.id]),
      );
      expect(lines.every((line) => line.outcome === 'rejected' && line.reason === 'consent')).toBe(
        true,
      );
      const runIds = runIdsOf(lines);
      expect(runIds).toHaveLength(Math.ceil(120 / batchSize));
      const database = await databaseView(runIds);
      expect(database.runs.map((row) => [row.status, row.format])).toStrictEqual(
        runIds.map(() => ['succeeded', 'ndjson']),
      );
      expect(database.rejected).toStrictEqual({ consent: 120 });
      expect(database.patientsCreated).toBe(0);
      expect(summaryCount(result.stdout, 'received')).toBe(database.received);
      expect(summaryCount(result.stdout, 'loaded')).toBe(database.patientsCreated);
      expect(summaryCount(result.stdout, 'rejected: consent')).toBe(database.rejected['consent']);
      expect(summaryCount(result.stdout, 'skipped')).toBe(0);
      expect(summaryCount(result.stdout, 'runs')).toBe(runIds.length);
      expect(typeCounts(result.stdout, 'Patient')).toStrictEqual({
        received: 120,
        created: 0,
        updated: 0,
        unchanged: 0,
        'rejected: consent': 120,
        skipped: 0,
      });
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'a Consent after every other patient: those 60 load, and a second run sends nothing',
    async () => {
      // Prepare
      const { text, expected } = consentedHalf(randomBytes(4).toString('hex'));
      const input = join(workDir, 'consented.ndjson');
      writeFileSync(input, text);
      const { stateDir, outcomes } = paths('consented');
      const args = [
        input,
        '--api',
        inject('apiUrl'),
        '--batch-size',
        String(batchSize - (batchSize % 3)),
        '--state-dir',
        stateDir,
        '--outcomes',
        outcomes,
      ];

      // Act
      const first = await ingestCli(args, await token(['system/Patient.c']));
      const firstOutcomes = readFileSync(outcomes, 'utf8');
      const runsAfterFirst = await runCount();
      const second = await ingestCli(args, await token(['system/Patient.c']));

      // Assess
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      const lines = readOutcomes(outcomes);
      expect(lines).toHaveLength(180);
      expect(lines.map((line) => line.line)).toStrictEqual(expected.map((_, at) => at + 1));
      expect(lines.map((line) => [line.outcome, line.reason])).toStrictEqual(expected);
      const runIds = runIdsOf(lines);
      const database = await databaseView(runIds);
      expect(database.runs.every((row) => row.status === 'succeeded')).toBe(true);
      expect(database.patientsCreated).toBe(60);
      expect(database.consentsRecorded).toBe(60);
      expect(database.rejected).toStrictEqual({ consent: 60 });
      expect(summaryCount(first.stdout, 'received')).toBe(database.received);
      expect(summaryCount(first.stdout, 'loaded')).toBe(
        database.patientsCreated + database.consentsRecorded,
      );
      expect(summaryCount(first.stdout, 'rejected: consent')).toBe(60);

      expect(second.code).toBe(0);
      expect(await runCount()).toBe(runsAfterFirst);
      expect(readFileSync(outcomes, 'utf8')).toBe(firstOutcomes);
      expect(stableSummary(second.stdout)).toBe(stableSummary(first.stdout));
      expect(summaryCount(second.stdout, 'batches sent now')).toBe(0);
    },
    CLI_TIMEOUT_MS,
  );

  it(
    '--max-batches 1, then a second run: it sends only the remaining batches and completes the outcome file',
    async () => {
      // Prepare
      const { text, expected } = consentedHalf(randomBytes(4).toString('hex'));
      const input = join(workDir, 'resumed.ndjson');
      writeFileSync(input, text);
      const { stateDir, outcomes } = paths('resumed');
      const size = 30;
      const args = [
        input,
        '--api',
        inject('apiUrl'),
        '--state-dir',
        stateDir,
        '--outcomes',
        outcomes,
      ];
      const runsBefore = await runCount();

      // Act
      const first = await ingestCli(
        [...args, '--batch-size', String(size), '--max-batches', '1'],
        await token(['system/Patient.c']),
      );
      const partial = readOutcomes(outcomes);
      const runsAfterFirst = await runCount();
      const second = await ingestCli(args, await token(['system/Patient.c']));

      // Assess
      expect(first.code).toBe(0);
      expect(first.stderr).toMatch(/stopped after 1 batches \(--max-batches\)/);
      expect(partial).toHaveLength(180);
      expect(partial.slice(0, size).map((line) => [line.outcome, line.reason])).toStrictEqual(
        expected.slice(0, size),
      );
      expect(partial.slice(size).every((line) => line.outcome === 'pending')).toBe(true);
      expect(summaryCount(first.stdout, 'pending (not sent yet)')).toBe(180 - size);
      expect(runsAfterFirst - runsBefore).toBe(1);

      expect(second.code).toBe(0);
      expect(second.stderr).toMatch(/resuming: 1 of 6 batches finished before/);
      expect(await runCount()).toBe(runsBefore + 180 / size);
      expect(summaryCount(second.stdout, 'batches sent now')).toBe(180 / size - 1);
      const lines = readOutcomes(outcomes);
      expect(lines.map((line) => [line.outcome, line.reason])).toStrictEqual(expected);
      const runIds = runIdsOf(lines);
      expect(runIds).toHaveLength(180 / size);
      expect(runIds[0]).toBe(partial[0]?.runId);
      const database = await databaseView(runIds);
      expect(database.patientsCreated).toBe(60);
      expect(summaryCount(second.stdout, 'loaded')).toBe(
        database.patientsCreated + database.consentsRecorded,
      );
      expect(summaryCount(second.stdout, 'received')).toBe(database.received);
    },
    CLI_TIMEOUT_MS,
  );
  it(
    'a Bulk Data directory (Consent, Patient, Observation, Immunization files): Consents wait for their Patients, Observations follow them',
    async () => {
      // Prepare
      const tag = randomBytes(4).toString('hex');
      const directory = mkdtempSync(join(workDir, 'bulk-'));
      const patients = syntheaResources('Patient.10.ndjson').map((patient) =>
        ownCopy(patient, tag),
      );
      const consented = patients.slice(0, 5);
      const observations = syntheaResources('Observation.sample.ndjson').map((observation) => ({
        ...observation,
        id: `${observation.id}-${tag}`,
        subject: { reference: `Patient/${consented[0]!.id}` },
      }));
      writeFileSync(join(directory, 'Patient.ndjson'), ndjson(patients));
      writeFileSync(join(directory, 'Observation.ndjson'), ndjson(observations));
      writeFileSync(
        join(directory, 'Consent.ndjson'),
        ndjson(consented.map((patient) => consentFor(`Patient/${patient.id}`))),
      );
      writeFileSync(
        join(directory, 'Immunization.ndjson'),
        readFileSync(syntheaPath('Immunization.10.ndjson')),
      );
      const { stateDir, outcomes } = paths(`bulk-${tag}`);

      // Act
      const result = await ingestCli(
        [
          directory,
          '--api',
          inject('apiUrl'),
          '--batch-size',
          String(batchSize),
          '--state-dir',
          stateDir,
          '--outcomes',
          outcomes,
        ],
        await token(['system/Patient.c']),
      );

      // Assess
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const lines = readOutcomes(outcomes);
      expect([...new Set(lines.map((line) => line.file))]).toStrictEqual([
        'Consent.ndjson',
        'Patient.ndjson',
        'Immunization.ndjson',
        'Observation.ndjson',
      ]);
      const outcomeOf = (file: string) =>
        lines.filter((line) => line.file === file).map((line) => line.outcome);
      expect(outcomeOf('Consent.ndjson')).toStrictEqual(consented.map(() => 'loaded'));
      expect(outcomeOf('Patient.ndjson')).toStrictEqual(
        patients.map((_, at) => (at < consented.length ? 'loaded' : 'rejected')),
      );
      expect(outcomeOf('Observation.ndjson')).toStrictEqual(observations.map(() => 'loaded'));
      // Whether the pipeline stores Immunizations is its own business: each one has an end here.
      const immunizations = outcomeOf('Immunization.ndjson');
      expect(immunizations).toHaveLength(161);
      expect(
        immunizations.filter((outcome) => outcome === 'pending' || outcome === 'failed'),
      ).toEqual([]);
      const database = await databaseView(runIdsOf(lines));
      expect(database.patientsCreated).toBe(consented.length);
      expect(database.consentsRecorded).toBe(consented.length);
      // Audited creations: what was stored, whichever table holds it.
      const [stored] = await query<{ n: number }>(
        "SELECT count(*)::int AS n FROM audit_log WHERE action = 'CREATE' AND resource_type = 'Observation' AND run_id = ANY($1::uuid[])",
        [runIdsOf(lines)],
      );
      expect(stored?.n).toBe(observations.length);
      expect(summaryCount(result.stdout, 'skipped')).toBe(
        lines.filter((line) => line.outcome === 'skipped').length,
      );
      expect(summaryCount(result.stdout, 'rejected: consent')).toBe(
        lines.filter((line) => line.reason === 'consent').length,
      );
      expect(typeCounts(result.stdout, 'Patient')).toMatchObject({
        received: patients.length,
        created: database.patientsCreated,
        'rejected: consent': patients.length - consented.length,
      });
      expect(typeCounts(result.stdout, 'Consent')).toMatchObject({ received: consented.length });
      expect(typeCounts(result.stdout, 'Immunization')).toMatchObject({
        received: 161,
        skipped: immunizations.filter((outcome) => outcome === 'skipped').length,
      });
    },
    CLI_TIMEOUT_MS,
  );
});
