import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findIngestRun } from '../../../lib/db/repositories/ingestRuns.ts';
import { listPipelineEvents } from '../../../lib/db/repositories/pipelineEvents.ts';
import { DirectoryPayloadStore } from '../../../lib/pipeline/directoryPayloadStore.ts';
import { useTestDatabase } from '../../helpers/database.ts';
import { flatRecord, sealedPayloads, useTestPipeline } from '../../helpers/pipeline.ts';

/** A directory store whose purges fail while `refusing` is set, as an unavailable S3 would. */
class FlakyStore extends DirectoryPayloadStore {
  refusing = true;

  override async purgeRun(runId: string): Promise<void> {
    if (this.refusing) throw new Error('the payload store is unavailable');
    await super.purgeRun(runId);
  }
}

describe('Publish when the payload store cannot purge', () => {
  const database = useTestDatabase({ perTest: true });
  const store = new FlakyStore(mkdtempSync(join(tmpdir(), 'publish-purge-')));
  const pipeline = useTestPipeline(database, { payloadStore: store });

  it('ends the run succeeded and published, checkpointed, and leaves its payloads to the scheduled purge', async () => {
    // Act
    const { runId, execution } = await pipeline.ingest([flatRecord({ mrn: 'MRN-PURGE-1' })]);

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    const run = await findIngestRun(database.pool, runId);
    expect(run?.status).toBe('succeeded');
    expect(run?.publishedAt).not.toBeNull();
    expect((await listPipelineEvents(database.pool, runId)).map((event) => event.type)).toEqual([
      'ingest.run.succeeded',
    ]);
    expect(await pipeline.deps.auditCheckpoints.latest()).toBeDefined();
    expect((await sealedPayloads(pipeline.deps, runId)).length).toBeGreaterThan(0);
    expect(readdirSync(join(store.location, runId)).length).toBeGreaterThan(0);
  });
});
