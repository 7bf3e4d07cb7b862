import middy from '@middy/core';
import { type CheckpointOutcome, writeAuditCheckpoint } from '../../lib/audit/auditCheckpoints.ts';
import { pipelineDependencies } from '../../lib/runtime.ts';

/**
 * On a schedule: a signed checkpoint of the audit chain's newest seal, outside the database,
 * when the chain moved since the latest one. This bounds how far back rows can be deleted
 * unnoticed to one interval, on top of the checkpoint every run writes at its end.
 */
export const handler = middy<unknown, CheckpointOutcome>().handler(async () => {
  const deps = pipelineDependencies();
  const outcome = await writeAuditCheckpoint(deps);
  if (!outcome.written && outcome.reason === 'seal-forged') {
    deps.logger.error('audit checkpoint refused: the newest seal does not verify');
  } else {
    deps.logger.info('audit checkpoint', { ...outcome });
  }
  return outcome;
});
