import { EnvelopeError, InputValidationError } from '../errors.ts';
import type { SchemaProblem } from '../fhir/validation.ts';
import { isJsonObject, parseJson } from '../json.ts';
import type { PipelineDependencies } from './dependencies.ts';
import { bundleEntries, ndjsonLines } from './envelopes.ts';
import type { ExtractedPayload, ExtractedRecord, ReceivedPayload } from './payloads.ts';
import { runStage } from './stageFrame.ts';
import { recordableResourceType, type StageResult } from './stages.ts';

function resourceTypeOf(record: unknown): string | null {
  return recordableResourceType(isJsonObject(record) ? record['resourceType'] : undefined);
}

function parseEnvelope(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new EnvelopeError('the received batch is not valid JSON');
  }
}

function parseFlatEnvelope(body: string): ExtractedRecord[] {
  const envelope = parseEnvelope(body);
  if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) {
    throw new EnvelopeError('the received batch is not a JSON object');
  }
  const records: unknown = (envelope as { records?: unknown }).records;
  if (!Array.isArray(records)) throw new EnvelopeError('the received batch has no records array');
  return records.map((record: unknown, index) => ({
    index,
    resourceType: resourceTypeOf(record),
    record,
  }));
}

const MISSING_RESOURCE: SchemaProblem = {
  path: '/resource',
  keyword: 'required',
  message: 'is required: resource',
};

function parseBundle(body: string): ExtractedRecord[] {
  const entries = bundleEntries(parseEnvelope(body));
  if (entries === undefined) throw new EnvelopeError('the received batch is not a Bundle');
  return entries.map(({ resource, fullUrl }, index) => ({
    index,
    resourceType: resourceTypeOf(resource),
    record: resource,
    ...(fullUrl === undefined ? {} : { fullUrl }),
    ...(resource === undefined ? { unreadable: MISSING_RESOURCE } : {}),
  }));
}

const BLANK_LINE: SchemaProblem = {
  path: '',
  keyword: 'required',
  message: 'the line must hold one resource',
};

/** One record per line; a line that is not JSON becomes a record that says why, not a failed run. */
function parseNdjson(body: string): ExtractedRecord[] {
  return ndjsonLines(body).map((line, index) => {
    if (line.trim() === '')
      return { index, resourceType: null, record: null, unreadable: BLANK_LINE };
    try {
      const record = parseJson(line);
      return { index, resourceType: resourceTypeOf(record), record };
    } catch (error) {
      if (!(error instanceof InputValidationError)) throw error;
      const [problem] = error.problems;
      return {
        index,
        resourceType: null,
        record: null,
        ...(problem ? { unreadable: problem } : {}),
      };
    }
  });
}

const PARSERS = { flat: parseFlatEnvelope, 'fhir-bundle': parseBundle, ndjson: parseNdjson };

/** Extract: decrypt the received batch, parse its envelope, list its records by position. */
export function extract(deps: PipelineDependencies, runId: string): Promise<StageResult> {
  return runStage<ReceivedPayload>(deps, 'extract', runId, async (received, { run }) => {
    const records = PARSERS[run.format](received.body);
    const output: ExtractedPayload = { records };
    return { output, counts: { extracted: records.length } };
  });
}
