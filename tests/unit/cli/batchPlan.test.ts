import { describe, expect, it } from 'vitest';
import { type BatchPlan, planBatches } from '../../../cli/ingest/batchPlan.ts';
import {
  bundleRecords,
  type InputFile,
  ndjsonRecords,
  readInputFile,
} from '../../../cli/ingest/inputRecords.ts';
import { DEFAULT_BATCH_SIZE } from '../../../cli/ingest/options.ts';
import {
  FHIR_JSON_MEDIA_TYPE,
  MAX_INGEST_BODY_BYTES,
  NDJSON_MEDIA_TYPE,
} from '../../../lib/mediaTypes.ts';
import { EXPORT_10 } from '../../helpers/fhir.ts';

function resource(type: string, id: string, padding = 0): Record<string, unknown> {
  return { resourceType: type, id, ...(padding > 0 ? { text: { div: 'x'.repeat(padding) } } : {}) };
}

function ndjsonFile(name: string, resources: readonly unknown[]): InputFile {
  const bytes = Buffer.from(resources.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
  return { format: 'ndjson', name, bytes, records: ndjsonRecords(name, bytes) };
}

function bundleFile(name: string, type: string, resources: readonly unknown[]): InputFile {
  const bundle = {
    resourceType: 'Bundle',
    type,
    entry: resources.map((entry, at) => ({
      fullUrl: `urn:uuid:${at}`,
      resource: entry,
      request: { method: 'POST', url: 'Patient' },
    })),
  };
  const bytes = Buffer.from(JSON.stringify(bundle));
  return { format: 'bundle', name, bytes, records: bundleRecords(name, bytes) };
}

function patients(count: number, padding = 0): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, at) => resource('Patient', `p${at + 1}`, padding));
}

/** What each batch holds, as `file:line` of its records. */
function layout(plan: BatchPlan): string[][] {
  return plan.batches.map((batch) =>
    batch.records.map((record) => `${record.file}:${record.line}`),
  );
}

describe('planBatches', () => {
  it.each<[number, number, number[]]>([
    [7, 3, [3, 3, 1]],
    [6, 3, [3, 3]],
    [2, 1000, [2]],
    [1, 1, [1]],
  ])('%i NDJSON lines in batches of %i: sizes %j, in input order', (count, batchSize, sizes) => {
    // Prepare
    const file = ndjsonFile('Patient.ndjson', patients(count));

    // Act
    const plan = planBatches([file], { batchSize, maxBodyBytes: MAX_INGEST_BODY_BYTES });

    // Assess
    expect(plan.batches.map((batch) => batch.records.length)).toStrictEqual(sizes);
    expect(plan.batches.map((batch) => batch.index)).toStrictEqual(sizes.map((_, at) => at));
    expect(layout(plan).flat()).toStrictEqual(
      Array.from({ length: count }, (_, at) => `Patient.ndjson:${at + 1}`),
    );
  });

  it('an NDJSON batch body is its lines in order, each ending in a newline', () => {
    // Prepare
    const resources = patients(3);
    const file = ndjsonFile('Patient.ndjson', resources);

    // Act
    const plan = planBatches([file], { batchSize: 2, maxBodyBytes: MAX_INGEST_BODY_BYTES });

    // Assess
    expect(plan.batches.map((batch) => batch.contentType)).toStrictEqual([
      NDJSON_MEDIA_TYPE,
      NDJSON_MEDIA_TYPE,
    ]);
    expect(plan.batches[0]?.body().toString()).toBe(
      `${JSON.stringify(resources[0])}\n${JSON.stringify(resources[1])}\n`,
    );
    expect(plan.batches[1]?.body().toString()).toBe(`${JSON.stringify(resources[2])}\n`);
  });

  it('closes an NDJSON batch before it would pass the body limit', () => {
    // Prepare: each line is about 1,000 bytes; the limit holds two of them, not three.
    const file = ndjsonFile('Patient.ndjson', patients(5, 950));
    const lineBytes = file.bytes.indexOf('\n') + 1;

    // Act
    const plan = planBatches([file], { batchSize: 100, maxBodyBytes: lineBytes * 2 + 10 });

    // Assess
    expect(plan.batches.map((batch) => batch.records.length)).toStrictEqual([2, 2, 1]);
    for (const batch of plan.batches) {
      expect(batch.body().length).toBeLessThanOrEqual(lineBytes * 2 + 10);
    }
  });

  it('never sends a line over the body limit on its own, and places it as too large', () => {
    // Prepare
    const file = ndjsonFile('Patient.ndjson', [
      resource('Patient', 'small'),
      resource('Patient', 'huge', 5000),
      resource('Patient', 'small-too'),
    ]);

    // Act
    const plan = planBatches([file], { batchSize: 10, maxBodyBytes: 1000 });

    // Assess
    expect(layout(plan)).toStrictEqual([['Patient.ndjson:1', 'Patient.ndjson:3']]);
    expect(plan.placements).toStrictEqual([
      { kind: 'batch', batch: 0, position: 0 },
      { kind: 'too-large' },
      { kind: 'batch', batch: 0, position: 1 },
    ]);
  });

  it.each(['collection', 'batch', 'transaction'])(
    'keeps a %s Bundle whole when it fits one batch, and sends its bytes as they are',
    (type) => {
      // Prepare
      const file = bundleFile('bundle.json', type, patients(3));

      // Act
      const plan = planBatches([file], { batchSize: 3, maxBodyBytes: MAX_INGEST_BODY_BYTES });

      // Assess
      expect(plan.batches).toHaveLength(1);
      expect(plan.batches[0]?.contentType).toBe(FHIR_JSON_MEDIA_TYPE);
      expect(plan.batches[0]?.body().equals(file.bytes)).toBe(true);
      expect(plan.placements).toStrictEqual(
        [0, 1, 2].map((position) => ({ kind: 'batch', batch: 0, position })),
      );
    },
  );

  it('splits a Bundle with more entries than the batch size into collection Bundles, in order', () => {
    // Prepare
    const resources = patients(5);
    const file = bundleFile('bundle.json', 'transaction', resources);

    // Act
    const plan = planBatches([file], { batchSize: 2, maxBodyBytes: MAX_INGEST_BODY_BYTES });

    // Assess
    expect(layout(plan)).toStrictEqual([
      ['bundle.json:1', 'bundle.json:2'],
      ['bundle.json:3', 'bundle.json:4'],
      ['bundle.json:5'],
    ]);
    const bodies = plan.batches.map((batch) => JSON.parse(batch.body().toString()));
    expect(bodies[0]).toStrictEqual({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:0', resource: resources[0] },
        { fullUrl: 'urn:uuid:1', resource: resources[1] },
      ],
    });
    expect(bodies[2].entry).toStrictEqual([{ fullUrl: 'urn:uuid:4', resource: resources[4] }]);
  });

  it('splits a Bundle over the body limit by bytes, each part within the limit', () => {
    // Prepare
    const file = bundleFile('bundle.json', 'collection', patients(6, 400));
    const limit = Math.ceil(file.bytes.length / 2);

    // Act
    const plan = planBatches([file], { batchSize: 100, maxBodyBytes: limit });

    // Assess
    expect(plan.batches.length).toBeGreaterThanOrEqual(2);
    expect(layout(plan).flat()).toHaveLength(6);
    for (const batch of plan.batches) {
      const body = batch.body();
      expect(body.length).toBeLessThanOrEqual(limit);
      expect(JSON.parse(body.toString()).entry).toHaveLength(batch.records.length);
    }
  });

  it('sends nothing for a Bundle without entries', () => {
    // Prepare
    const file = bundleFile('empty.json', 'collection', []);

    // Act
    const plan = planBatches([file], { batchSize: 10, maxBodyBytes: MAX_INGEST_BODY_BYTES });

    // Assess
    expect(plan.batches).toStrictEqual([]);
    expect(plan.records).toStrictEqual([]);
  });

  it('several files: batches never span two files, and are numbered across the input', () => {
    // Prepare
    const files = [
      ndjsonFile('Patient.ndjson', patients(3)),
      bundleFile('bundle.json', 'batch', patients(2)),
      ndjsonFile('Observation.ndjson', [resource('Observation', 'o1')]),
    ];

    // Act
    const plan = planBatches(files, { batchSize: 2, maxBodyBytes: MAX_INGEST_BODY_BYTES });

    // Assess
    expect(layout(plan)).toStrictEqual([
      ['Patient.ndjson:1', 'Patient.ndjson:2'],
      ['Patient.ndjson:3'],
      ['bundle.json:1', 'bundle.json:2'],
      ['Observation.ndjson:1'],
    ]);
    expect(plan.batches.map((batch) => batch.index)).toStrictEqual([0, 1, 2, 3]);
    expect(plan.records.map((record) => `${record.file}:${record.line}`)).toStrictEqual(
      layout(plan).flat(),
    );
  });

  it.each<[string, number, number]>([
    ['the default limits', DEFAULT_BATCH_SIZE, MAX_INGEST_BODY_BYTES],
    ['a 1 MiB body limit, cut by bytes alone', 100_000, 1024 * 1024],
  ])(
    "the Synthea export's DocumentReferences (base64 notes, 3.9 MB) at %s: every body within the limit, every line sent once",
    (_case, batchSize, maxBodyBytes) => {
      // Prepare
      const name = 'DocumentReference.000.ndjson';
      const file = readInputFile({ name, path: new URL(name, EXPORT_10).pathname });

      // Act
      const plan = planBatches([file], { batchSize, maxBodyBytes });

      // Assess
      expect(file.records).toHaveLength(1215);
      expect(plan.placements.every((placement) => placement.kind === 'batch')).toBe(true);
      const bodies = plan.batches.map((batch) => batch.body());
      expect(bodies.length).toBeGreaterThanOrEqual(Math.ceil(file.bytes.length / maxBodyBytes));
      for (const body of bodies) expect(body.length).toBeLessThanOrEqual(maxBodyBytes);
      expect(Buffer.concat(bodies).equals(file.bytes)).toBe(true);
      expect(plan.batches.map((batch) => batch.records.length).reduce((a, b) => a + b)).toBe(1215);
    },
  );
});
