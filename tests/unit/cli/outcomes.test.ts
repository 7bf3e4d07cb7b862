import { describe, expect, it } from 'vitest';
import type { Placement } from '../../../cli/ingest/batchPlan.ts';
import type { RecordIdentity } from '../../../cli/ingest/inputRecords.ts';
import {
  type BatchResult,
  failedOutcomes,
  type OutcomeLine,
  outcomeFileText,
  outcomeLines,
  succeededOutcomes,
} from '../../../cli/ingest/outcomes.ts';

const RUN_A = '11111111-1111-4111-8111-111111111111';
const RUN_B = '22222222-2222-4222-8222-222222222222';

describe('succeededOutcomes', () => {
  it('a record without a rejection was loaded', () => {
    // Act
    const outcomes = succeededOutcomes(2, []);

    // Assess
    expect(outcomes).toStrictEqual([
      { outcome: 'loaded', reason: null },
      { outcome: 'loaded', reason: null },
    ]);
  });

  it.each<[string, 'rejected' | 'skipped']>([
    ['schema', 'rejected'],
    ['consent', 'rejected'],
    ['orphan-reference', 'rejected'],
    ['duplicate-in-batch', 'rejected'],
    ['unsupported-type', 'skipped'],
  ])('a %s rejection makes the record %s, with the reason', (reason, outcome) => {
    // Act
    const outcomes = succeededOutcomes(3, [{ recordIndex: 1, reason }]);

    // Assess
    expect(outcomes).toStrictEqual([
      { outcome: 'loaded', reason: null },
      { outcome, reason },
      { outcome: 'loaded', reason: null },
    ]);
  });

  it('the first rejection of a record names its reason; indexes outside the batch are ignored', () => {
    // Act
    const outcomes = succeededOutcomes(2, [
      { recordIndex: 0, reason: 'schema' },
      { recordIndex: 0, reason: 'consent' },
      { recordIndex: 2, reason: 'consent' },
      { recordIndex: -1, reason: 'consent' },
    ]);

    // Assess
    expect(outcomes).toStrictEqual([
      { outcome: 'rejected', reason: 'schema' },
      { outcome: 'loaded', reason: null },
    ]);
  });
});

describe('failedOutcomes', () => {
  it('every record of the batch failed, for the reason given', () => {
    // Act
    const outcomes = failedOutcomes(2, 'workflow-start-failed');

    // Assess
    expect(outcomes).toStrictEqual([
      { outcome: 'failed', reason: 'workflow-start-failed' },
      { outcome: 'failed', reason: 'workflow-start-failed' },
    ]);
  });
});

describe('outcomeLines', () => {
  const records: RecordIdentity[] = [
    { file: 'in.ndjson', line: 1, resourceType: 'Patient', resourceId: 'p1' },
    { file: 'in.ndjson', line: 2, resourceType: 'Consent', resourceId: 'c1' },
    { file: 'in.ndjson', line: 4, resourceType: 'Patient', resourceId: 'p2' },
    { file: 'in.ndjson', line: 5, resourceType: 'Immunization', resourceId: 'i1' },
    { file: 'in.ndjson', line: 6, resourceType: 'Patient', resourceId: 'p3' },
  ];
  const placements: Placement[] = [
    { kind: 'batch', batch: 0, position: 0 },
    { kind: 'batch', batch: 0, position: 1 },
    { kind: 'too-large' },
    { kind: 'batch', batch: 1, position: 0 },
    { kind: 'batch', batch: 2, position: 0 },
  ];

  it('one line per input record, in input order, from the batch results', () => {
    // Prepare
    const results = new Map<number, BatchResult>([
      [
        0,
        {
          runId: RUN_A,
          outcomes: succeededOutcomes(2, [{ recordIndex: 1, reason: 'orphan-reference' }]),
        },
      ],
      [
        1,
        {
          runId: RUN_B,
          outcomes: succeededOutcomes(1, [{ recordIndex: 0, reason: 'unsupported-type' }]),
        },
      ],
    ]);

    // Act
    const lines = outcomeLines({ records, placements }, results);

    // Assess
    expect(lines).toStrictEqual([
      { ...records[0]!, outcome: 'loaded', reason: null, runId: RUN_A },
      { ...records[1]!, outcome: 'rejected', reason: 'orphan-reference', runId: RUN_A },
      { ...records[2]!, outcome: 'rejected', reason: 'too-large', runId: null },
      { ...records[3]!, outcome: 'skipped', reason: 'unsupported-type', runId: RUN_B },
      { ...records[4]!, outcome: 'pending', reason: null, runId: null },
    ] satisfies OutcomeLine[]);
  });

  it('the records of a batch the API refused failed, without a run', () => {
    // Prepare
    const results = new Map<number, BatchResult>([
      [0, { runId: null, outcomes: failedOutcomes(2, 'payload-too-large') }],
    ]);

    // Act
    const lines = outcomeLines({ records, placements }, results);

    // Assess
    expect(lines.slice(0, 2).map((line) => [line.outcome, line.reason, line.runId])).toStrictEqual([
      ['failed', 'payload-too-large', null],
      ['failed', 'payload-too-large', null],
    ]);
  });

  it('leaves out anything but the identity: the NDJSON offsets and the Bundle entry stay behind', () => {
    // Prepare
    const withContent = [
      { ...records[0]!, start: 0, end: 10 },
      { ...records[1]!, entry: { resource: { name: 'Jane Doe' } } },
    ];

    // Act
    const lines = outcomeLines(
      { records: withContent, placements: placements.slice(0, 2) },
      new Map([[0, { runId: RUN_A, outcomes: succeededOutcomes(2, []) }]]),
    );

    // Assess
    expect(outcomeFileText(lines)).not.toContain('Jane');
    expect(Object.keys(lines[0]!).sort()).toStrictEqual(
      ['file', 'line', 'outcome', 'reason', 'resourceId', 'resourceType', 'runId'].sort(),
    );
  });
});

describe('outcomeFileText', () => {
  it('one JSON line per outcome, keys in a fixed order', () => {
    // Prepare
    const line: OutcomeLine = {
      runId: RUN_A,
      reason: 'consent',
      outcome: 'rejected',
      resourceId: 'p1',
      resourceType: 'Patient',
      line: 1,
      file: 'in.ndjson',
    };

    // Act
    const text = outcomeFileText([line, { ...line, line: 2, outcome: 'loaded', reason: null }]);

    // Assess
    expect(text).toBe(
      `{"file":"in.ndjson","line":1,"resourceType":"Patient","resourceId":"p1","outcome":"rejected","reason":"consent","runId":"${RUN_A}"}\n` +
        `{"file":"in.ndjson","line":2,"resourceType":"Patient","resourceId":"p1","outcome":"loaded","reason":null,"runId":"${RUN_A}"}\n`,
    );
  });
});
