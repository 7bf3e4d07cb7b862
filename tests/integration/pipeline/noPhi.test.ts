import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { listPipelineEvents } from '../../../lib/db/repositories/pipelineEvents.ts';
import { listRejections } from '../../../lib/db/repositories/rejections.ts';
import { KeyServiceRefusedError } from '../../../lib/errors.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/database.ts';
import { FaultyKeyService } from '../../helpers/keyServices.ts';
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
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database.drop();
  });

  it.each([
    ['a run that succeeds', undefined],
    [
      'a run whose Transform fails',
      new KeyServiceRefusedError('KMS GenerateDataKey refused (AccessDeniedException)'),
    ],
  ])(
    '%s: state inputs and outputs, errors, events, rejections and logs carry none',
    async (_name, fault) => {
      // Prepare
      const written: string[] = [];
      const capture = (chunk: unknown) => {
        written.push(String(chunk));
        return true;
      };
      const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
      const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
      const keyService = new FaultyKeyService((call) =>
        fault !== undefined && call.context['purpose'] === 'blind-index' ? fault : undefined,
      );
      const pipeline = createTestPipeline(database, { keyService, logLevel: 'DEBUG' });

      // Act
      let runId: string;
      let execution: Awaited<ReturnType<typeof pipeline.ingest>>['execution'];
      try {
        ({ runId, execution } = await pipeline.ingest(batch));
      } finally {
        stdout.mockRestore();
        stderr.mockRestore();
      }

      // Assess
      expect(execution.status).toBe(fault === undefined ? 'SUCCEEDED' : 'FAILED');
      const stateData = execution.events.filter((event) => event.type.startsWith('State'));
      expect(stateData.length).toBeGreaterThan(10);
      expect(leaks(JSON.stringify(execution.events))).toEqual([]);
      expect(leaks(JSON.stringify(execution.error ?? null))).toEqual([]);
      expect(leaks(JSON.stringify(await listPipelineEvents(database.pool, runId)))).toEqual([]);
      expect(leaks(JSON.stringify(await listRejections(database.pool, runId)))).toEqual([]);
      expect(written.join('')).toContain('stage done');
      expect(leaks(written.join(''))).toEqual([]);
    },
  );
});
