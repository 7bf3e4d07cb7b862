import { FHIR_JSON_MEDIA_TYPE, NDJSON_MEDIA_TYPE } from '../../lib/mediaTypes.ts';
import type { BundleRecord, InputFile, NdjsonRecord, RecordIdentity } from './inputRecords.ts';

export interface Batch {
  /** Its position among all batches of the input, from 0: part of its Idempotency-Key. */
  readonly index: number;
  readonly contentType: string;
  /** In body order: a record's position here is its recordIndex in the batch's run. */
  readonly records: readonly RecordIdentity[];
  /** The request body, built when the batch is sent. */
  readonly body: () => Buffer;
}

/** Where an input record went: a position in a batch, or nowhere, being too large to send. */
export type Placement =
  | { readonly kind: 'batch'; readonly batch: number; readonly position: number }
  | { readonly kind: 'too-large' };

export interface BatchPlan {
  readonly batches: readonly Batch[];
  /** Every input record, in input order. */
  readonly records: readonly RecordIdentity[];
  /** One per record, aligned with `records`. */
  readonly placements: readonly Placement[];
}

export interface BatchLimits {
  readonly batchSize: number;
  readonly maxBodyBytes: number;
}

const NEWLINE = Buffer.from('\n');
const COLLECTION_OPEN = '{"resourceType":"Bundle","type":"collection","entry":[';
const COLLECTION_CLOSE = ']}';
const COLLECTION_FRAME_BYTES = Buffer.byteLength(COLLECTION_OPEN + COLLECTION_CLOSE);

/** Accumulates records into batches of at most `batchSize` records and `maxBodyBytes` bytes. */
class PlanBuilder {
  readonly batches: Batch[] = [];
  readonly records: RecordIdentity[] = [];
  readonly placements: Placement[] = [];
  private pending: RecordIdentity[] = [];
  private pendingBytes = 0;

  private readonly limits: BatchLimits;

  constructor(limits: BatchLimits) {
    this.limits = limits;
  }

  /** Adds a record of `bytes` to the open batch, first closing it when the record does not fit. */
  add(record: RecordIdentity, bytes: number, overhead: number, close: () => void): void {
    this.records.push(record);
    if (overhead + bytes > this.limits.maxBodyBytes) {
      this.placements.push({ kind: 'too-large' });
      return;
    }
    const full =
      this.pending.length >= this.limits.batchSize ||
      overhead + this.pendingBytes + bytes > this.limits.maxBodyBytes;
    if (full) close();
    this.placements.push({
      kind: 'batch',
      batch: this.batches.length,
      position: this.pending.length,
    });
    this.pending.push(record);
    this.pendingBytes += bytes;
  }

  /** Closes the open batch, if it holds records, with the body `body` builds from them. */
  close<R extends RecordIdentity>(contentType: string, body: (records: readonly R[]) => Buffer) {
    if (this.pending.length === 0) return;
    const records = this.pending as R[];
    this.batches.push({
      index: this.batches.length,
      contentType,
      records,
      body: () => body(records),
    });
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** A whole file sent as it is, as one batch. */
  addWhole(records: readonly RecordIdentity[], contentType: string, bytes: Buffer): void {
    records.forEach((record, position) => {
      this.records.push(record);
      this.placements.push({ kind: 'batch', batch: this.batches.length, position });
    });
    this.batches.push({ index: this.batches.length, contentType, records, body: () => bytes });
  }
}

function planNdjson(plan: PlanBuilder, file: Extract<InputFile, { format: 'ndjson' }>): void {
  const body = (records: readonly NdjsonRecord[]) =>
    Buffer.concat(
      records.flatMap((record) => [file.bytes.subarray(record.start, record.end), NEWLINE]),
    );
  const close = () => plan.close(NDJSON_MEDIA_TYPE, body);
  for (const record of file.records) plan.add(record, record.end - record.start + 1, 0, close);
  close();
}

/** A split-off entry keeps what a collection entry may hold: request and response belong to batches. */
function collectionEntry(entry: unknown): unknown {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return entry;
  const { fullUrl, resource } = entry as { fullUrl?: unknown; resource?: unknown };
  return { ...(fullUrl === undefined ? {} : { fullUrl }), resource };
}

function planSplitBundle(plan: PlanBuilder, file: Extract<InputFile, { format: 'bundle' }>): void {
  const texts = new Map<BundleRecord, string>();
  const body = (records: readonly BundleRecord[]) =>
    Buffer.from(
      `${COLLECTION_OPEN}${records.map((record) => texts.get(record)).join(',')}${COLLECTION_CLOSE}`,
    );
  const close = () => plan.close(FHIR_JSON_MEDIA_TYPE, body);
  for (const record of file.records) {
    const text = JSON.stringify(collectionEntry(record.entry)) ?? 'null';
    texts.set(record, text);
    // The comma before every entry overstates the body by one byte: a safe margin.
    plan.add(record, Buffer.byteLength(text) + 1, COLLECTION_FRAME_BYTES, close);
  }
  close();
}

/**
 * Splits the input into batches, in input order: NDJSON lines as they come, a Bundle whole
 * when it fits one batch, otherwise its entries in collection Bundles. A batch never spans
 * two files; a record over the body limit on its own is not sent at all.
 */
export function planBatches(files: readonly InputFile[], limits: BatchLimits): BatchPlan {
  const plan = new PlanBuilder(limits);
  for (const file of files) {
    if (file.format === 'ndjson') {
      planNdjson(plan, file);
    } else if (
      file.records.length > 0 &&
      file.records.length <= limits.batchSize &&
      file.bytes.length <= limits.maxBodyBytes
    ) {
      plan.addWhole(file.records, FHIR_JSON_MEDIA_TYPE, file.bytes);
    } else {
      planSplitBundle(plan, file);
    }
  }
  return { batches: plan.batches, records: plan.records, placements: plan.placements };
}
