import { describe, expect, it } from 'vitest';
import { decryptField } from '../../../lib/crypto/fieldCipher.ts';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { putStagePayload } from '../../../lib/db/repositories/stagePayloads.ts';
import { openPayload, sealPayload } from '../../../lib/pipeline/claimCheck.ts';
import { decompressPayload, V8_VERSION_TAG } from '../../../lib/pipeline/payloadCompression.ts';
import type { ExtractedPayload, ReceivedPayload } from '../../../lib/pipeline/payloads.ts';
import type { StageHandler } from '../../../lib/workflow/stageHandlers.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { flatRecord, sealedPayloads, useTestPipeline } from '../../helpers/pipeline.ts';

const context = {} as Parameters<StageHandler>[1];

describe('the received payload', () => {
  const database = useTestDatabase({ perTest: true });
  const pipeline = useTestPipeline(database);

  async function runKey(runId: string): Promise<Buffer> {
    const run = await findIngestRun(database.pool, runId);
    return pipeline.deps.keyring.runKey(database.pool, run!.dataKeyId, runId);
  }

  async function sealed(runId: string, stage: string): Promise<Buffer> {
    const found = (await sealedPayloads(pipeline.deps, runId)).find((row) => row.stage === stage);
    return found!.sealed!;
  }

  it('keeps the batch as received in V8 format, its body one string, byte for byte', async () => {
    // Prepare
    const records = [flatRecord({ mrn: 'MRN-RECEIVED-1', name: 'Zoë "Quote" O\'Brien' })];

    // Act
    const runId = await pipeline.submit(records);

    // Assess
    const key = await runKey(runId);
    const payload = await sealed(runId, 'received');
    const aad = { table: 'stage_payloads', column: 'received', rowId: runId };
    expect(decompressPayload(decryptField(key, payload, aad))[0]).toBe(V8_VERSION_TAG);
    const received = openPayload<ReceivedPayload>(key, runId, 'received', payload);
    expect(received.contentType).toBe('application/json');
    expect(JSON.parse(received.body)).toEqual({ records });
  });

  it('is still extracted when an earlier version sealed it as JSON', async () => {
    // Prepare: the batch's received payload replaced by the JSON form earlier versions wrote
    const records = [flatRecord({ mrn: 'MRN-RECEIVED-2' }), flatRecord({ mrn: 'MRN-RECEIVED-3' })];
    const runId = await pipeline.submit(records);
    const key = await runKey(runId);
    const received = openPayload<ReceivedPayload>(
      key,
      runId,
      'received',
      await sealed(runId, 'received'),
    );
    await putStagePayload(database.pool, runId, 'received', {
      ciphertext: sealPayload(key, runId, 'received', received, 'json'),
    });

    // Act
    await pipeline.handlers.Extract({ runId }, context);

    // Assess
    const extracted = openPayload<ExtractedPayload>(
      key,
      runId,
      'extracted',
      await sealed(runId, 'extracted'),
    );
    expect(extracted.records.map((entry) => entry.record)).toEqual(records);
  });
});
