import { EnvelopeError } from '../errors.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { runStage } from './stageFrame.ts';
import { recordableResourceType, type StageResult } from './stages.ts';

/** The batch exactly as the API received it (kept encrypted, so nothing is lost). */
export interface ReceivedPayload {
  readonly contentType: string;
  readonly body: string;
}

/** One input record, by its position in the batch; `record` is not yet validated. */
export interface ExtractedRecord {
  readonly index: number;
  readonly resourceType: string | null;
  readonly record: unknown;
}

export interface ExtractedPayload {
  readonly records: readonly ExtractedRecord[];
}

function parseFlatEnvelope(body: string): ExtractedRecord[] {
  let envelope: unknown;
  try {
    envelope = JSON.parse(body);
  } catch {
    throw new EnvelopeError('the received batch is not valid JSON');
  }
  if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) {
    throw new EnvelopeError('the received batch is not a JSON object');
  }
  const records: unknown = (envelope as { records?: unknown }).records;
  if (!Array.isArray(records)) throw new EnvelopeError('the received batch has no records array');
  return records.map((record: unknown, index) => ({
    index,
    resourceType: recordableResourceType(
      typeof record === 'object' && record !== null
        ? (record as { resourceType?: unknown }).resourceType
        : undefined,
    ),
    record,
  }));
}

/** Extract: decrypt the received batch, parse its envelope, list its records by position. */
export function extract(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<ReceivedPayload>(deps, 'extract', runId, async (received, { run }) => {
    if (run.format !== 'flat') {
      throw new EnvelopeError(`input format '${run.format}' is not supported yet`);
    }
    const records = parseFlatEnvelope(received.body);
    const output: ExtractedPayload = { records };
    return { output, counts: { extracted: records.length } };
  });
}
