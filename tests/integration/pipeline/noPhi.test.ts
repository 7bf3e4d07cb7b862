import { describe, expect, it } from 'vitest';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listPipelineEvents } from '../../../lib/db/repositories/pipelineEvents.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import { KeyServiceRefusedError } from '../../../lib/errors.ts';
import { loadPayload } from '../../../lib/pipeline/claimCheck.ts';
import type { ReceivedPayload } from '../../../lib/pipeline/payloads.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { occurrences, sweepDatabase, sweepDirectory } from '../../helpers/databaseSweep.ts';
import { FaultyKeyService } from '../../helpers/keyServices.ts';
import { captureOutput } from '../../helpers/output.ts';
import { createTestPipeline, flatRecord } from '../../helpers/pipeline.ts';

/** Unique PHI values: any occurrence outside encrypted columns is a leak. */
const CANARIES = {
  name: 'Zyqxv Canarysson',
  mrn: 'MRN-CANARY-77813',
  ssn: '987-65-4329',
  birthDate: '1971-03-04',
  invalidName: 'Wqzx Invalidsdottir',
  invalidBirthDate: '1971-02-31',
  unconsentedName: 'Pjvq Noconsentova',
  unconsentedMrn: 'MRN-CANARY-NOCONSENT-5521',
} as const;

const batch = [
  flatRecord({
    mrn: CANARIES.mrn,
    name: CANARIES.name,
    ssn: CANARIES.ssn,
    birthDate: CANARIES.birthDate,
  }),
  flatRecord({
    mrn: 'MRN-CANARY-INVALID',
    name: CANARIES.invalidName,
    birthDate: CANARIES.invalidBirthDate,
  }),
  flatRecord({
    mrn: CANARIES.unconsentedMrn,
    name: CANARIES.unconsentedName,
    consent: { data_sharing: false },
  }),
];

function leaks(haystack: string): string[] {
  return Object.values(CANARIES).filter((canary) => haystack.includes(canary));
}

describe('no PHI leaves the encrypted columns', () => {
  const database = useTestDatabase();
  // One key service for every case: the index key the first run creates must unwrap in the next.
  let failing: ConstructorParameters<typeof FaultyKeyService>[0] = () => undefined;
  const keyService = new FaultyKeyService((call, attempt) => failing(call, attempt));

  it.each([
    ['a run that succeeds', undefined, []],
    [
      'a run whose Transform fails',
      new KeyServiceRefusedError('KMS GenerateDataKey refused (AccessDeniedException)'),
      // Kept for a re-drive: the sweep below proves they are ciphertext.
      ['consented', 'extracted', 'received', 'validated'],
    ],
  ])(
    '%s: state inputs and outputs, errors, events, rejections, logs and every table carry none',
    async (_name, fault, keptPayloads) => {
      // Prepare
      // ConsentCheck reads the index key first; Transform, with a keyring of its own, next.
      let indexKeyCalls = 0;
      failing = (call) => {
        if (call.context['purpose'] !== 'blind-index') return undefined;
        indexKeyCalls += 1;
        return fault !== undefined && indexKeyCalls > 1 ? fault : undefined;
      };
      const pipeline = createTestPipeline(database, {
        keyService,
        logLevel: 'DEBUG',
        keyringPerTask: true,
      });

      // Act
      const {
        result: { runId, execution },
        output,
      } = await captureOutput(() => pipeline.ingest(batch));

      // Assess
      expect(execution.status).toBe(fault === undefined ? 'SUCCEEDED' : 'FAILED');
      const stateData = execution.events.filter((event) => event.type.startsWith('State'));
      expect(stateData.length).toBeGreaterThan(10);
      expect(leaks(JSON.stringify(execution.events))).toEqual([]);
      expect(leaks(JSON.stringify(execution.error ?? null))).toEqual([]);
      expect(leaks(JSON.stringify(await listPipelineEvents(database.pool, runId)))).toEqual([]);
      expect(leaks(JSON.stringify(await listRejections(database.pool, runId)))).toEqual([]);
      expect(output).toContain('stage done');
      expect(leaks(output)).toEqual([]);

      const sweep = await sweepDatabase(database.pool);
      expect(sweep.tables).toEqual(
        expect.arrayContaining([
          'audit_log',
          'consent_history',
          'consents',
          'data_keys',
          'fhir_resources',
          'ingest_runs',
          'patients',
          'pipeline_events',
          'rejections',
          'stage_payloads',
        ]),
      );
      expect(occurrences(sweep.cells, Object.values(CANARIES))).toEqual([]);
      const sweptTables = new Set(sweep.cells.map((cell) => cell.table));
      for (const table of ['audit_log', 'data_keys', 'ingest_runs', 'rejections']) {
        expect(sweptTables, table).toContain(table);
      }
      const { rows: payloads } = await database.pool.query<{ stage: string }>(
        'SELECT stage FROM stage_payloads WHERE run_id = $1 ORDER BY stage',
        [runId],
      );
      expect(payloads.map((row) => row.stage)).toEqual(keptPayloads);
      // The payloads' own store: every file under it, none holding a canary in plaintext.
      const files = await sweepDirectory(pipeline.deps.payloadStore.location);
      expect(files).toHaveLength(keptPayloads.length);
      expect(occurrences(files, Object.values(CANARIES))).toEqual([]);
      if (fault === undefined) {
        expect(sweptTables).toContain('patients');
      } else {
        // The kept batch does hold every canary: only its encryption keeps them from the sweep.
        const run = await findIngestRun(database.pool, runId);
        const key = await pipeline.deps.keyring.runKey(database.pool, run!.dataKeyId, runId);
        const received = await loadPayload<ReceivedPayload>(
          database.pool,
          pipeline.deps.payloadStore,
          key,
          runId,
          'received',
        );
        expect(leaks(received.body)).toEqual(Object.values(CANARIES));
      }
    },
  );
});
